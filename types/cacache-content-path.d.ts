// cacache's internal content-path helper, which @types/cacache does not describe.
declare module 'cacache/lib/content/path.js' {
  export default function contentPath(cache: string, integrity: string): string;
}
