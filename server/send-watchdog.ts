import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** What the watchdog reads of a socket's libuv handle: bytes not yet taken by the kernel. */
interface WriteQueue {
  readonly writeQueueSize?: number;
}

interface Progress {
  /** Bytes the kernel had taken when this window began. */
  sent: number;
  since: number;
}

/**
 * Less than this taken in a whole timeout is no progress: a client that stopped reading still
 * lets the kernel take a trickle now and then (when memory pressure eases elsewhere), and a
 * trickle must not keep a stalled connection alive for ever. It is 2 KiB/s at the default 30 s.
 */
const MIN_PROGRESS_BYTES = 64 * 1024;

/**
 * Cuts connections whose client stopped reading: a socket with bytes queued for it the whole
 * time through which the kernel took less than MIN_PROGRESS_BYTES for `timeoutMs`. An idle
 * socket (nothing queued, e.g. a client waiting for a slow upstream) is never cut here: that
 * is the idle timeout's job. One sweep per listener, not one timer per socket.
 */
export class SendWatchdog {
  private readonly progress = new WeakMap<Socket, Progress>();
  /** Sockets that carried a request: the ones anything is ever written to. */
  private readonly sockets = new Set<Socket>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly onCut: (socket: Socket) => void,
  ) {
    // A quarter of the timeout (at most 1 s): a stall is cut within 1.25x the timeout.
    this.timer = setInterval(() => this.sweep(Date.now()), Math.max(10, Math.min(1_000, timeoutMs / 4)));
    this.timer.unref();
  }

  /**
   * Watches every socket a request arrives on (the TLS socket on an HTTPS server, which is
   * the one responses are written to).
   */
  attach(server: Server): void {
    server.on('request', (request: { socket: Socket }) => {
      const socket = request.socket;
      if (this.sockets.has(socket)) return;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  sweep(now: number): void {
    for (const socket of this.sockets) {
      if (socket.destroyed || socket.writableLength === 0) {
        this.progress.delete(socket);
        continue;
      }
      // libuv's queue shrinks as the kernel takes bytes; where there is none (TLS), the
      // writable's own length does, a chunk at a time.
      const queued = (socket as Socket & { _handle?: WriteQueue | null })._handle?.writeQueueSize ?? socket.writableLength;
      const sent = socket.bytesWritten - queued;
      const last = this.progress.get(socket);
      if (last === undefined || sent - last.sent >= MIN_PROGRESS_BYTES) {
        this.progress.set(socket, { sent, since: now });
      } else if (now - last.since >= this.timeoutMs) {
        this.progress.delete(socket);
        socket.destroy();
        this.onCut(socket);
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
