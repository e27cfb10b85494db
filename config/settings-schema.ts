import type { EdgePierConfig, SettingKey } from './edgepier-config.js';
import type { SettingSpec } from './setting-spec.js';

/** The declaration of every setting, by key (SETTINGS in settings.ts). */
export type SettingsSchema = { readonly [K in SettingKey]: SettingSpec<EdgePierConfig[K]> };

/** The declarations of some settings: one group of the schema (config/settings-*.ts). */
export type SettingGroup<K extends SettingKey> = Pick<SettingsSchema, K>;
