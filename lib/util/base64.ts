/**
 * Base64 and base64url without padding worries, on every runtime (`btoa` and
 * `atob` work everywhere but speak binary strings). Decoders return null for
 * anything that is not valid or is longer than `maxLength` characters.
 */

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

/** Decodes standard base64, or returns null for anything else. */
export function fromBase64(text: string, maxLength = 1024): Uint8Array | null {
  if (text.length > maxLength || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** base64url of bytes, without padding. */
export function toBase64url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64url (padding optional), or returns null for anything else. */
export function fromBase64url(text: string, maxLength = 1024): Uint8Array | null {
  if (text.length > maxLength || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return fromBase64(b64 + "=".repeat((4 - b64.length % 4) % 4), maxLength + 3);
}
