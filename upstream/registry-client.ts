import type { Readable } from 'node:stream';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface UpstreamManifest {
  /** The digest upstream reports in Docker-Content-Digest, if any. Not trusted for content. */
  readonly reportedDigest?: string;
  readonly mediaType: string;
  readonly size: number;
  /** Absent for HEAD. */
  readonly body?: Buffer;
}

export interface UpstreamBlob {
  /** Total size of the blob when upstream says it. */
  readonly size?: number;
  /** Where `stream` starts: the requested offset when upstream honoured the range, else 0. */
  readonly offset: number;
  readonly stream: Readable;
}

/** One page of an upstream tag list, as upstream sent it (it may have ignored `n` or `last`). */
export interface UpstreamTagPage {
  readonly tags: readonly string[];
  /** Upstream's Link header named a next page. */
  readonly more: boolean;
}

/** An upstream referrers API answer: the image index, and the filters upstream says it applied. */
export interface UpstreamReferrers {
  readonly body: Buffer;
  readonly filtersApplied: readonly string[];
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

/**
 * The pull half of the OCI distribution API against one upstream registry, with its auth
 * handled inside. Failures are OciErrors with the status a mirror client should see.
 */
export interface RegistryClient {
  /** The registry host this client talks to, e.g. `docker.io`. */
  readonly registry: string;
  fetchManifest(repository: string, reference: string, options: RequestOptions & { method: 'GET' | 'HEAD' }): Promise<UpstreamManifest>;
  fetchBlob(repository: string, digest: string, options: RequestOptions & { offset?: number }): Promise<UpstreamBlob>;
  headBlob(repository: string, digest: string, options?: RequestOptions): Promise<{ size: number }>;
  /** `GET /v2/<name>/tags/list?n=&last=`; an unknown repository is NAME_UNKNOWN. */
  listTags(repository: string, options: RequestOptions & { n?: number; last?: string }): Promise<UpstreamTagPage>;
  /** `GET /v2/<name>/referrers/<digest>`; undefined when upstream has no referrers API (404). */
  fetchReferrers(repository: string, digest: string, options: RequestOptions & { artifactType?: string }): Promise<UpstreamReferrers | undefined>;
}
