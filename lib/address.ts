// RFC 5321 §4.1.2 path and mailbox grammar (with RFC 6531 UTF-8), address literals and RFC 3461
// xtext. Pure functions over short command-line strings; imports nothing.

/** A parsed mailbox from a MAIL or RCPT path. */
export interface Mailbox {
  /** The mailbox as sent, without angle brackets or source route: `"a b"@example.org`. */
  readonly address: string
  /** The local part with quoting undone: `a b` for `"a b"@example.org`. */
  readonly localPart: string
  /** The domain or address literal as sent (`example.org`, `[192.0.2.1]`); empty for `<Postmaster>`. */
  readonly domain: string
  /** True when the address holds non-ASCII characters, which needs SMTPUTF8 (RFC 6531). */
  readonly isUtf8: boolean
}

// RFC 5321 atext, widened by RFC 6531 to any non-ASCII character.
const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]|[^\\x00-\\x7F]"
const DOT_STRING = new RegExp(`(?:${ATEXT})+(?:\\.(?:${ATEXT})+)*`, 'uy')
// RFC 5321 Quoted-string: qtextSMTP or a backslash pair, plus UTF-8 (RFC 6531).
const QUOTED_STRING = /"((?:[\x20\x21\x23-\x5B\x5D-\x7E]|\\[\x20-\x7E]|[^\x00-\x7F])*)"/uy
const LABEL_CHAR = '[A-Za-z0-9]|[^\\x00-\\x7F]'
const SUB_DOMAIN = `(?:${LABEL_CHAR})(?:(?:${LABEL_CHAR}|-)*(?:${LABEL_CHAR}))?`
const DOMAIN = new RegExp(`${SUB_DOMAIN}(?:\\.${SUB_DOMAIN})*`, 'uy')
const DOMAIN_ONLY = new RegExp(`^${SUB_DOMAIN}(?:\\.${SUB_DOMAIN})*$`, 'u')
// The bracketed part is checked by isAddressLiteral once the brackets are found.
const LITERAL = /\[[\x21-\x5A\x5E-\x7E]*\]/y
// RFC 5321 A-d-l: a source route, read and ignored as §4.1.1.3 allows ("@a,@b:").
const SOURCE_ROUTE = new RegExp(`@${SUB_DOMAIN}(?:\\.${SUB_DOMAIN})*(?:,@${SUB_DOMAIN}(?:\\.${SUB_DOMAIN})*)*:`, 'uy')
const NON_ASCII = /[^\x00-\x7F]/u

/**
 * Where a match of the sticky `re` at `at` ends, or -1. test() with lastIndex, not exec(): no match
 * array is built (four per MAIL or RCPT line showed in allocation profiles).
 */
function matchEnd(re: RegExp, s: string, at: number): number {
  re.lastIndex = at
  return re.test(s) ? re.lastIndex : -1
}

/** True for a dotted-quad IPv4 address with each part from 0 to 255. */
export function isIPv4(s: string): boolean {
  const parts = s.split('.')
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
}

/** True for an IPv6 address in any RFC 4291 text form, including a trailing IPv4 part. */
export function isIPv6(s: string): boolean {
  const halves = s.split('::')
  if (halves.length > 2) return false
  const groups = (text: string): string[] | null => {
    if (text === '') return []
    const out = text.split(':')
    return out.every((g) => g.length > 0) ? out : null
  }
  const head = groups(halves[0] ?? '')
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : []
  if (!head || !tail) return false
  const all = [...head, ...tail]
  let count = all.length
  // RFC 4291 §2.2: a dotted quad may only be the last 32 bits, so it must end the whole text.
  if (s.includes('.')) {
    const last = s.slice(s.lastIndexOf(':') + 1)
    if (!isIPv4(last) || all[all.length - 1] !== last) return false
    all.pop()
    count += 1 // an IPv4 tail fills two 16-bit groups
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false
  return halves.length === 2 ? count < 8 : count === 8
}

/** True for an RFC 5321 §4.1.3 address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]`, `[tag:content]`. */
export function isAddressLiteral(s: string): boolean {
  if (s.length < 3 || s[0] !== '[' || s[s.length - 1] !== ']') return false
  const inner = s.slice(1, -1)
  if (isIPv4(inner)) return true
  const colon = inner.indexOf(':')
  if (colon <= 0) return false
  const tag = inner.slice(0, colon)
  const content = inner.slice(colon + 1)
  if (tag.toLowerCase() === 'ipv6') return isIPv6(content)
  // General-address-literal: a standardized tag, then dcontent (RFC 5321 §4.1.3).
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(tag) && /^[\x21-\x5A\x5E-\x7E]+$/.test(content)
}

/** True for a domain name (LDH labels, or U-labels) or an address literal. */
export function isDomainOrLiteral(s: string): boolean {
  return DOMAIN_ONLY.test(s) || isAddressLiteral(s)
}

function unquote(quoted: string): string {
  return quoted.replace(/\\([\x20-\x7E])/g, '$1')
}

/** Why a path could not be read. */
export type PathFault = 'syntax' | 'null-path'

/**
 * Reads a path starting at `at` in `s`: `<mailbox>`, `<@route:mailbox>`, `<>` when `allowNull`,
 * and `<Postmaster>` when `allowPostmaster` (RFC 5321 §4.1.1.3). Returns the mailbox (null for
 * `<>`) or why there is none, and puts where the path ended into `cursor.end`: no result object
 * (two per message showed in allocation profiles).
 */
export function readPath(s: string, at: number, allowNull: boolean, allowPostmaster: boolean, cursor: { end: number }): Mailbox | null | PathFault {
  if (s[at] !== '<') return 'syntax'
  let i = at + 1
  if (s[i] === '>') {
    if (!allowNull) return 'null-path'
    cursor.end = i + 1
    return null
  }
  // The '>' first: most paths are not <Postmaster>, and then nothing is copied to find out.
  if (allowPostmaster && s[i + 10] === '>' && s.slice(i, i + 11).toLowerCase() === 'postmaster>') {
    const name = s.slice(i, i + 10)
    cursor.end = i + 11
    return { address: name, localPart: name, domain: '', isUtf8: false }
  }
  const route = matchEnd(SOURCE_ROUTE, s, i)
  if (route >= 0) i = route
  const localStart = i
  let localPart: string
  const quoted = matchEnd(QUOTED_STRING, s, i)
  if (quoted >= 0) {
    localPart = unquote(s.slice(i + 1, quoted - 1)) // inside the quotes
    i = quoted
  } else {
    const dotted = matchEnd(DOT_STRING, s, i)
    if (dotted < 0) return 'syntax'
    localPart = s.slice(i, dotted)
    i = dotted
  }
  if (s[i] !== '@') return 'syntax'
  const literal = s[i + 1] === '['
  const domainEnd = matchEnd(literal ? LITERAL : DOMAIN, s, i + 1)
  if (domainEnd < 0) return 'syntax'
  const domain = s.slice(i + 1, domainEnd)
  if (literal && !isAddressLiteral(domain)) return 'syntax'
  i = domainEnd
  if (s[i] !== '>') return 'syntax'
  const address = s.slice(localStart, i)
  cursor.end = i + 1
  return { address, localPart, domain, isUtf8: NON_ASCII.test(address) }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes RFC 3461 xtext (`+2B` for `+`); `null` when the text is not valid xtext. xchar is any
 * of `!` to `~` except `+` and `=`, and with `allowUtf8` any non-ASCII character too. xtext encodes
 * octets: they are read as UTF-8 (clients such as nodemailer encode UTF-8 addresses octet by
 * octet), or as Latin-1 when they are not UTF-8.
 */
export function decodeXtext(s: string, allowUtf8 = false): string | null {
  // RFC 6533 §3: with SMTPUTF8, utf-8-addr-unitext may carry UTF-8 characters as they are.
  const valid = allowUtf8 ? /^(?:[\x21-\x2A\x2C-\x3C\x3E-\x7E\u0080-\u{10FFFF}]|\+[0-9A-F]{2})*$/u : /^(?:[\x21-\x2A\x2C-\x3C\x3E-\x7E]|\+[0-9A-F]{2})*$/
  if (!valid.test(s)) return null
  if (!s.includes('+')) return s
  const decoded = s.replace(/\+([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  if (/[^\x00-\xff]/u.test(decoded)) return decoded // raw UTF-8 characters (allowUtf8): already text
  const octets = Buffer.from(decoded, 'latin1')
  try {
    return UTF8.decode(octets)
  } catch {
    return octets.toString('latin1')
  }
}

/** Decodes RFC 6533 `\x{HHHH}` escapes (utf-8-addr-xtext/unitext); `null` for a bad code point. */
export function decodeUnicodeEscapes(s: string): string | null {
  let valid = true
  const decoded = s.replace(/\\x\{([0-9A-Fa-f]{1,6})\}/g, (_, hex: string) => {
    const point = parseInt(hex, 16)
    if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) valid = false
    return valid ? String.fromCodePoint(point) : ''
  })
  return valid ? decoded : null
}
