// The OCI media types the tests write into the images, manifests and Accept headers they
// make, spelled out here once and independently of oci/ (a test that imported the product's
// constant would agree with a typo in it).
export const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** The config of an artifact that has none (OCI 1.1). */
export const OCI_EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
