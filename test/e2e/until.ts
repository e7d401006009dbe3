// Waits for a state that no event announces (a file a start-up sweep removes, a process that exits): polls the check,
// at most `ms`, and fails naming what it waited for.
type Falsy = false | 0 | '' | null | undefined;

export async function until<T>(
  check: () => T | Promise<T>,
  what: string,
  ms = 20_000,
  everyMs = 50,
): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, Falsy>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, everyMs));
  }
}
