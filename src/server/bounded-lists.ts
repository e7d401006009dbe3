// Pages a result's lists: at most `limit` entries across several named lists from `offset`, with each list's whole
// count, how many entries the result left out and where the next page starts; and the fields that say so.
import { z } from 'zod';
import { listWindow, type ListWindow, type Lists } from '../list-window.js';

/** Entries a page holds unless the caller says, and the most it may ask for (list_artifacts' page sizes). */
export const LIST_PAGE = 100;
export const LIST_PAGE_MAX = 1000;

export const OffsetArg = z
  .number()
  .int()
  .min(0)
  .max(1_000_000_000)
  .optional()
  .describe('Entries to skip: next_offset of the previous page (0).');
export const LimitArg = z
  .number()
  .int()
  .min(1)
  .max(LIST_PAGE_MAX)
  .optional()
  .describe(`Entries per page (${LIST_PAGE}).`);

/** What a bounded result adds: what it left out, and how to get it. */
export const LeftOutFields = {
  omitted: z.number().describe('Entries left out of this result.'),
  more: z.string().nullable().describe('How to get what was left out (null when nothing was).'),
};
export const PageFields = {
  ...LeftOutFields,
  next_offset: z.number().nullable().describe('offset of the next page; null on the last.'),
};

export { firstEntries } from '../list-window.js';

export type Paged<L extends Lists> = Omit<ListWindow<L>, 'total'> & {
  /** Where the next page starts; null when the page reaches the end. */
  next_offset: number | null;
  /** How to ask `tool` for the rest (null when nothing was left out). */
  more: string | null;
};

/** One page of `lists` taken in their key order, as if they were one list, as `tool` (given offset and limit) answers. */
export function pageLists<L extends Lists>(
  tool: string,
  lists: L,
  page: { offset?: number | undefined; limit?: number | undefined } = {},
): Paged<L> {
  const offset = page.offset ?? 0;
  const limit = page.limit ?? LIST_PAGE;
  const { lists: cut, counts, omitted, total } = listWindow(lists, offset, limit);
  const next_offset = offset + limit < total ? offset + limit : null;
  return {
    lists: cut,
    counts,
    omitted,
    next_offset,
    more: omitted === 0 ? null : moreText(tool, next_offset, offset),
  };
}

/** How to ask `tool` for the next page, and where the earlier ones are. */
function moreText(tool: string, next: number | null, offset: number): string {
  const parts: string[] = [];
  if (next !== null)
    parts.push(
      `${tool} with offset ${next} (the same other arguments) lists the next ones, up to ${LIST_PAGE_MAX} a page with limit`,
    );
  if (offset > 0) parts.push('offset 0 starts from the first');
  return parts.join('; ');
}

/** The sentence a result's text ends with when its lists were cut. */
export function leftOutText(p: { omitted: number; more: string | null }): string {
  return p.more ? ` ${p.omitted} not listed here: ${p.more}.` : '';
}
