/**
 * The two headers by which EdgePier nodes name themselves on the wire. They live at the bottom
 * of the layers because discovery (the static list's probe), the peer client and the server
 * all speak them.
 */
/** Request header: the asking node's id (a peer's call; it must not fan out again). */
export const PEER_HEADER = 'x-edgepier-peer';
/** Response header: the answering node's id, so peers and operators can tell nodes apart. */
export const NODE_HEADER = 'X-EdgePier-Node';
