import { LineCounter, parseDocument } from 'yaml';
import type { ConfigProblem } from './config-problem.js';
import { isPlainObject } from './parsed.js';
import { didYouMean } from './suggest.js';

export interface YamlDeclaration<K extends string> {
  readonly key: K;
  readonly yamlKey: string;
}

export interface ConfigFileContents<K extends string> {
  readonly values: ReadonlyMap<K, unknown>;
  readonly problems: readonly ConfigProblem[];
}

/**
 * Reads the YAML file into values per setting. Every problem names `setting` (the flag that
 * named the file). Messages carry line and column but no source excerpt: the file holds passwords.
 */
export function readConfigFile<K extends string>(
  path: string,
  readFile: (path: string) => string,
  setting: string,
  declarations: readonly YamlDeclaration<K>[],
): ConfigFileContents<K> {
  const problem = (message: string): ConfigFileContents<K> => ({ values: new Map(), problems: [{ setting, message: `${path}: ${message}` }] });
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const code = isPlainObject(error) && typeof error.code === 'string' ? error.code : undefined;
    return problem(`cannot read the file${code === undefined ? '' : ` (${code})`}`);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      values: new Map(),
      problems: document.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { setting, message: `${path}:${line}:${col}: ${error.message}` };
      }),
    };
  }
  let contents: unknown;
  try {
    contents = document.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (error) {
    return problem(error instanceof Error ? error.message : 'cannot read the YAML');
  }
  if (contents === null || contents === undefined) return { values: new Map(), problems: [] };
  if (!isPlainObject(contents)) return problem('expected a mapping of settings at the top level');

  const byYamlKey = new Map(declarations.map((declaration) => [declaration.yamlKey, declaration.key]));
  const values = new Map<K, unknown>();
  const problems: ConfigProblem[] = [];
  for (const [yamlKey, value] of Object.entries(contents)) {
    const key = byYamlKey.get(yamlKey);
    if (key === undefined) {
      problems.push({ setting, message: `${path}: unknown key ${JSON.stringify(yamlKey)}${didYouMean(yamlKey, [...byYamlKey.keys()])}` });
    } else {
      values.set(key, value);
    }
  }
  return { values, problems };
}
