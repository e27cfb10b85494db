import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatImageReference, parseImageReference } from '../cli/commands/image-reference.js';

test('image references fold Docker Hub API hosts into docker.io, with the implicit library/', () => {
  for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'Docker.IO']) {
    assert.equal(formatImageReference(parseImageReference(`${host}/alpine:3.20`)), 'docker.io/library/alpine:3.20', host);
  }
  assert.equal(formatImageReference(parseImageReference('docker.io/bitnami/redis')), 'docker.io/bitnami/redis:latest');
  assert.equal(formatImageReference(parseImageReference('ghcr.io/org/app@sha256:' + 'a'.repeat(64))), `ghcr.io/org/app@sha256:${'a'.repeat(64)}`);
  assert.equal(formatImageReference(parseImageReference('alpine')), 'alpine:latest', 'no registry: the default upstream, as is');
  assert.equal(formatImageReference(parseImageReference('localhost:5000/app:v1')), 'localhost:5000/app:v1');
});
