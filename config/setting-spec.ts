import type { Environment } from './environment.js';
import { describeValue, fail, ok, type Parsed } from './parsed.js';

/**
 * - `value`: one value; the flag may be given once.
 * - `list`: repeatable flag; flag and env values are also split on commas.
 * - `switch`: a flag without a value (`--no-mdns`, or `--no-mdns=false`).
 */
export type SettingKind = 'value' | 'list' | 'switch';

export interface ParseContext {
  readonly env: Environment;
}

/** Everything about one setting. Built with the helpers below, listed once in settings.ts or one of its groups (settings-*.ts). */
export interface SettingSpec<T> {
  readonly flag: `--${string}` | null;
  readonly env: `EDGEPIER_${string}` | null;
  readonly yamlKey: string | null;
  readonly kind: SettingKind;
  /** Placeholder in help: `HOST:PORT`. Empty for switches. */
  readonly valueName: string;
  readonly description: string;
  /** The default as shown in help and the README table. */
  readonly defaultText: string;
  /** Never printed; never accepted on argv, where `ps` would show it. */
  readonly secret: boolean;
  /** From the flag's or env var's text: one string, or every item for a list. */
  fromText(texts: readonly string[], context: ParseContext): Parsed<T>;
  fromYaml(value: unknown, context: ParseContext): Parsed<T>;
  defaultValue(context: ParseContext): Parsed<T>;
  /** The YAML that reads back as `value`, secrets masked. */
  display(value: T): unknown;
}

interface Declaration<T> {
  readonly flag: `--${string}` | null;
  readonly env: `EDGEPIER_${string}` | null;
  readonly yamlKey: string | null;
  readonly valueName: string;
  readonly description: string;
  readonly defaultText: string;
  readonly secret?: boolean;
  readonly display: (value: T) => unknown;
}

interface ValueDeclaration<T> extends Declaration<T> {
  readonly parse: (text: string, context: ParseContext) => Parsed<T>;
  /** Parsed with `parse` when `defaultValue` is absent. */
  readonly default?: string;
  readonly defaultValue?: (context: ParseContext) => Parsed<T>;
  /** Reads a YAML value other than a string or number (default: refuse it). */
  readonly fromYamlValue?: (value: unknown, context: ParseContext) => Parsed<T>;
  /** Added to the "expected a string" message, e.g. to remind that `[::]:5000` needs quotes in YAML. */
  readonly yamlHint?: string;
}

export function valueSetting<T>(declaration: ValueDeclaration<T>): SettingSpec<T> {
  const { parse, fromYamlValue, yamlHint } = declaration;
  return {
    ...common(declaration),
    kind: 'value',
    fromText(texts, context) {
      const [text] = texts;
      return text === undefined || texts.length > 1 ? fail('expected exactly one value') : parse(text, context);
    },
    fromYaml(value, context) {
      if (typeof value === 'string') return parse(value, context);
      if (typeof value === 'number') return parse(String(value), context);
      if (fromYamlValue !== undefined) return fromYamlValue(value, context);
      return fail(`expected a string, got ${describeValue(value)}${yamlHint === undefined ? '' : ` (${yamlHint})`}`);
    },
    defaultValue(context) {
      if (declaration.defaultValue !== undefined) return declaration.defaultValue(context);
      return parse(declaration.default ?? '', context);
    },
  };
}

interface ListDeclaration<Item, T> extends Declaration<T> {
  readonly parseItem: (text: string, context: ParseContext) => Parsed<Item>;
  /** Reads a YAML list item other than a string (default: refuse it). */
  readonly fromYamlItem?: (value: unknown, context: ParseContext) => Parsed<Item>;
  readonly combine: (items: readonly Item[]) => Parsed<T>;
}

export function listSetting<Item, T>(declaration: ListDeclaration<Item, T>): SettingSpec<T> {
  const { parseItem, fromYamlItem, combine } = declaration;
  const fromItems = <V>(values: readonly V[], read: (value: V) => Parsed<Item>): Parsed<T> => {
    const items: Item[] = [];
    const errors: string[] = [];
    for (const value of values) {
      const item = read(value);
      if (item.ok) items.push(item.value);
      else errors.push(...item.errors);
    }
    return errors.length > 0 ? fail(...errors) : combine(items);
  };
  return {
    ...common(declaration),
    kind: 'list',
    fromText: (texts, context) => fromItems(texts, (text) => parseItem(text, context)),
    fromYaml(value, context) {
      if (!Array.isArray(value)) return fail(`expected a list, got ${describeValue(value)}`);
      return fromItems(value as unknown[], (item) => {
        if (typeof item === 'string') return parseItem(item, context);
        if (fromYamlItem !== undefined) return fromYamlItem(item, context);
        return fail(`expected a list of strings, got ${describeValue(item)} in it`);
      });
    },
    defaultValue: () => combine([]),
  };
}

interface SwitchDeclaration extends Omit<Declaration<boolean>, 'valueName' | 'display'> {
  readonly parse: (text: string) => Parsed<boolean>;
  /** The value when the flag or env var says "true": false for `--no-…` switches. */
  readonly whenSet: boolean;
  readonly default: boolean;
}

/** A boolean whose flag and env var name the non-default state (`--no-mdns`), and whose YAML key the positive one. */
export function switchSetting(declaration: SwitchDeclaration): SettingSpec<boolean> {
  const { parse, whenSet } = declaration;
  const fromText = (text: string): Parsed<boolean> => {
    const parsed = parse(text);
    return parsed.ok ? ok(parsed.value ? whenSet : !whenSet) : parsed;
  };
  return {
    ...common({ ...declaration, valueName: '', display: (value: boolean) => value }),
    kind: 'switch',
    fromText(texts) {
      const [text] = texts;
      return text === undefined || texts.length > 1 ? fail('expected exactly one value') : fromText(text);
    },
    fromYaml(value) {
      if (typeof value === 'boolean') return ok(value);
      if (typeof value === 'string') return parse(value);
      return fail(`expected true or false, got ${describeValue(value)}`);
    },
    defaultValue: () => ok(declaration.default),
  };
}

function common<T>(declaration: Declaration<T>): Omit<SettingSpec<T>, 'kind' | 'fromText' | 'fromYaml' | 'defaultValue'> {
  return {
    flag: declaration.flag,
    env: declaration.env,
    yamlKey: declaration.yamlKey,
    valueName: declaration.valueName,
    description: declaration.description,
    defaultText: declaration.defaultText,
    secret: declaration.secret ?? false,
    display: declaration.display,
  };
}

/** What problems name a setting by: its flag, else its YAML key, else its env var. */
export function settingName(spec: SettingSpec<unknown>): string {
  return spec.flag ?? spec.yamlKey ?? spec.env ?? '(unnamed setting)';
}

