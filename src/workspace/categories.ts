// The categories a workspace file falls into (artifact lists and reports, backups, the tool schemas); names only.

export const CATEGORIES = [
  'images',
  'plots',
  'videos',
  'audio',
  'data',
  'code',
  'documents',
  'models',
  'web',
  'archives',
  'other',
] as const;

export type Category = (typeof CATEGORIES)[number];

export function isCategory(v: unknown): v is Category {
  return typeof v === 'string' && (CATEGORIES as readonly string[]).includes(v);
}

export interface Categorization {
  category: Category;
  mime: string;
}
