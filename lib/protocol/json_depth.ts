/** How deeply a JSON text nests, found without parsing it (no I/O, no dependencies). */

/**
 * Whether JSON `text` nests arrays and objects more than `max` levels deep
 * (brackets inside strings do not count). One pass over the text, no parsing:
 * run before `JSON.parse`, so a hostile text never reaches a recursive walk.
 *
 * @example
 * ```ts
 * jsonTooDeep("[[[1]]]", 2); // true
 * jsonTooDeep('{"a":"[[["}', 2); // false
 * ```
 */
export function jsonTooDeep(text: string, max: number): boolean {
  // Each level takes at least one character.
  if (text.length <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
