// A CRI image client, as kubelet talks to containerd: gRPC over containerd's unix socket.
import { join } from 'node:path';
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export interface CriImage {
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
}

type Callback<T> = (error: ServiceError | null, response: T) => void;
interface ImageServiceClient extends Client {
  PullImage(request: { image: { image: string } }, options: { deadline: Date }, callback: Callback<{ imageRef: string }>): void;
  ListImages(request: object, options: { deadline: Date }, callback: Callback<{ images: CriImage[] }>): void;
}

export class CriImageClient {
  private readonly client: ImageServiceClient;

  constructor(socketPath: string) {
    const definition = loadSync(join(import.meta.dirname, 'cri-image-service.proto'), { keepCase: false, defaults: true });
    const runtime = loadPackageDefinition(definition).runtime as unknown as { v1: { ImageService: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => ImageServiceClient } };
    this.client = new runtime.v1.ImageService(`unix://${socketPath}`, credentials.createInsecure());
  }

  /** kubelet's PullImage: resolves with containerd's image ref (the image id). */
  pullImage(image: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.client.PullImage({ image: { image } }, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => (error ? reject(error) : resolve(response.imageRef)));
    });
  }

  listImages(timeoutMs: number): Promise<CriImage[]> {
    return new Promise((resolve, reject) => {
      this.client.ListImages({}, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => (error ? reject(error) : resolve(response.images)));
    });
  }

  close(): void {
    this.client.close();
  }
}
