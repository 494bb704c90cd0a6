// One command line (CRLF removed, decoded as UTF-8) → a Command value or a Fault naming the
// catalogue reply. Never throws on input and never replies; the command handlers (commands/)
// decide what is sent.

import { readPath, type Mailbox } from './address.js'
import type { ReplyKey } from './replies.js'

/** ESMTP parameters as sent: keyword upper-cased, value as sent (`null` for a bare keyword). */
export type RawParams = ReadonlyArray<readonly [keyword: string, value: string | null]>

/** A command the parser understood. */
export type Command =
  | { readonly verb: 'HELO' | 'EHLO' | 'LHLO'; readonly domain: string }
  | { readonly verb: 'MAIL'; readonly from: Mailbox | null; readonly params: RawParams }
  | { readonly verb: 'RCPT'; readonly to: Mailbox; readonly params: RawParams }
  | { readonly verb: 'BDAT'; readonly size: number; readonly last: boolean }
  | { readonly verb: 'DATA' | 'RSET' | 'QUIT' | 'STARTTLS' }
  | { readonly verb: 'NOOP'; readonly argument: string }
  | { readonly verb: 'VRFY' | 'EXPN' | 'HELP'; readonly argument: string }
  | { readonly verb: 'AUTH'; readonly mechanism: string; readonly initialResponse: string | null }
  | { readonly verb: 'XCLIENT' | 'XFORWARD'; readonly attributes: RawParams }

/** A line that is not a valid command, with the reply it deserves. */
export interface Fault {
  readonly verb: string | null
  readonly fault: ReplyKey
}

/** A verb the parser knows. */
export type Verb = Command['verb']

// RFC 5321 §4.1.2 esmtp-param; values may be UTF-8 when SMTPUTF8 is on (RFC 6531 §3.3).
// One parameter, sticky: tried at a word's start in the whole line, it must end at the word's end.
const PARAM_AT = /([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3C\x3E-\x7E\u0080-\u{10FFFF}]+))?/uy
const CONTROL = /[\x00-\x08\x0A-\x1F\x7F]/
const VERB = /^[A-Za-z]{1,16}$/

const NO_PARAMS: RawParams = Object.freeze([])

// The commands without an argument, one each: nothing to build per line (two per message).
const BARE = Object.freeze({
  DATA: Object.freeze({ verb: 'DATA' }),
  RSET: Object.freeze({ verb: 'RSET' }),
  QUIT: Object.freeze({ verb: 'QUIT' }),
  STARTTLS: Object.freeze({ verb: 'STARTTLS' }),
} as const)
const BARE_NOOP: Command = Object.freeze({ verb: 'NOOP', argument: '' })

/**
 * The commands a line of exactly these octets is (the verb in capitals, nothing after it), as
 * parseCommand() reads that line: recognised from the octets, with no string made for them.
 */
export const BARE_LINES: ReadonlyArray<readonly [octets: Buffer, command: Command]> = [
  [Buffer.from('DATA'), BARE.DATA],
  [Buffer.from('RSET'), BARE.RSET],
  [Buffer.from('QUIT'), BARE.QUIT],
  [Buffer.from('NOOP'), BARE_NOOP],
]

// Where readPath() leaves the end of the path it read: one for the module, as parsing never nests.
const PATH_END = { end: 0 }

function fault(verb: string | null, reply: ReplyKey): Fault {
  return { verb, fault: reply }
}

/** Splits `KEY=VALUE KEY2` into raw params; `null` when one is malformed. */
export function parseParams(text: string): RawParams | null {
  // The usual MAIL or RCPT line has none: one shared empty list, no split.
  if (text === '') return NO_PARAMS
  return paramsIn(text, 0, text.length)
}

/**
 * parseParams() of `line[start, end)`, read in place: past `end` the line has only spaces or
 * nothing. Words are found with indexOf and checked with the sticky PARAM_AT: no copy of the
 * argument, no array from split, no match array, no copy of a word.
 */
function paramsIn(line: string, start: number, end: number): RawParams | null {
  // The usual line has one parameter (SIZE=): a one-slot list, not one grown by push() to 17 slots.
  let first: readonly [string, string | null] | null = null
  let out: Array<readonly [string, string | null]> | null = null
  let from = start
  while (from <= end) {
    let to = line.indexOf(' ', from)
    if (to < 0 || to > end) to = end
    if (to > from) {
      // The greedy match of a word that is one parameter ends at the word's end; of any other, before.
      PARAM_AT.lastIndex = from
      if (!PARAM_AT.test(line) || PARAM_AT.lastIndex !== to) return null
      // The keyword has no '=', so the first one ends it.
      const eq = line.indexOf('=', from)
      const pair: readonly [string, string | null] = eq < 0 || eq > to ? [line.slice(from, to).toUpperCase(), null] : [line.slice(from, eq).toUpperCase(), line.slice(eq + 1, to)]
      if (first === null) first = pair
      else (out ??= [first]).push(pair)
    }
    from = to + 1 // doubled spaces are tolerated, as most servers do
  }
  return out ?? (first === null ? [] : [first])
}

/**
 * MAIL FROM: or RCPT TO:, read in place from `line[start, end)` (the argument without trailing
 * spaces): the line is not copied for it. Past `end` there are only spaces, which no path or
 * prefix can take in, so reading the line there gives what reading the argument alone would.
 */
function parseEnvelope(verb: 'MAIL' | 'RCPT', line: string, start: number, end: number): Command | Fault {
  const prefix = verb === 'MAIL' ? 'FROM:' : 'TO:'
  // Clients send it upper-case: that needs no copy of the line to compare.
  if (!line.startsWith(prefix, start) && line.slice(start, Math.min(end, start + prefix.length)).toUpperCase() !== prefix) return fault(verb, 'syntaxError')
  let at = start + prefix.length
  // RFC 5321 forbids a space after the colon, but many clients send one; accepting it is harmless.
  while (at < end && line[at] === ' ') at++
  const syntaxFault = verb === 'MAIL' ? 'badSenderSyntax' : 'badRecipientSyntax'
  const mailbox = at < end ? readPath(line, at, verb === 'MAIL', verb === 'RCPT', PATH_END) : 'syntax'
  if (typeof mailbox === 'string') return fault(verb, mailbox === 'null-path' ? 'nullRecipient' : syntaxFault)
  const pathEnd = PATH_END.end
  if (pathEnd < end && line[pathEnd] !== ' ') return fault(verb, syntaxFault)
  const params = pathEnd >= end ? NO_PARAMS : paramsIn(line, pathEnd, end)
  if (!params) return fault(verb, 'syntaxError')
  if (verb === 'MAIL') return { verb, from: mailbox, params }
  // readPath only yields null when allowNull is true, which it is not for RCPT.
  return mailbox ? { verb, to: mailbox, params } : fault(verb, 'nullRecipient')
}

function parseBdat(rest: string): Command | Fault {
  const match = /^(\d{1,15})(?: +(LAST))? *$/i.exec(rest)
  if (!match) return fault('BDAT', 'syntaxError')
  return { verb: 'BDAT', size: Number(match[1]), last: match[2] !== undefined }
}

// The verbs of a message as clients send them, upper-case: matched in place, nothing copied.
const COMMON_VERBS = ['MAIL', 'RCPT', 'DATA', 'RSET', 'QUIT', 'NOOP', 'EHLO', 'BDAT'] as const

/** The verb of `line[0, end)` when it is a common one in upper case, else null. */
function commonVerb(line: string, end: number): string | null {
  if (end !== 4) return null
  for (let i = 0; i < COMMON_VERBS.length; i++) {
    const verb = COMMON_VERBS[i] as string
    if (line.startsWith(verb)) return verb
  }
  return null
}

/** The verb of `line[0, space)` (the whole line when no space) upper-cased, or null when it is not one. */
function slowVerb(line: string, space: number): string | null {
  const word = space < 0 ? line : line.slice(0, space)
  return VERB.test(word) ? word.toUpperCase() : null
}

/** Parses one command line. The line must not include its CRLF. */
export function parseCommand(line: string): Command | Fault {
  const space = line.indexOf(' ')
  const verb = commonVerb(line, space < 0 ? line.length : space) ?? slowVerb(line, space)
  if (verb === null) return fault(null, 'unknownCommand')
  // The verb is letters and its separator a space: a control character can only be in the rest.
  if (CONTROL.test(line)) return fault(verb, 'syntaxError')
  // Trailing spaces are common ("RSET "); a leading one after the verb is the separator.
  let end = line.length
  while (end > space + 1 && line[end - 1] === ' ') end--
  // The usual command of a message: its argument is read in place.
  if (verb === 'MAIL' || verb === 'RCPT') return parseEnvelope(verb, line, space < 0 ? line.length : space + 1, space < 0 ? line.length : end)
  const rest = space < 0 ? '' : line.slice(space + 1, end)
  switch (verb) {
    case 'HELO':
    case 'EHLO':
    case 'LHLO':
      if (rest === '' || rest.includes(' ')) return fault(verb, 'badHelo')
      return { verb, domain: rest }
    case 'BDAT':
      return parseBdat(rest)
    case 'DATA':
    case 'RSET':
    case 'QUIT':
    case 'STARTTLS':
      return rest === '' ? BARE[verb] : fault(verb, 'syntaxError')
    // RFC 5321 §4.1.1.9 and §4.1.1.8: NOOP and HELP take an optional argument.
    case 'NOOP':
      return rest === '' ? BARE_NOOP : { verb, argument: rest }
    case 'HELP':
      return { verb, argument: rest }
    case 'VRFY':
    case 'EXPN':
      return rest === '' ? fault(verb, 'syntaxError') : { verb, argument: rest }
    case 'AUTH': {
      const match = /^([A-Za-z0-9_-]{1,20})(?: +(\S+))?$/.exec(rest)
      if (!match) return fault(verb, 'syntaxError')
      return { verb, mechanism: (match[1] ?? '').toUpperCase(), initialResponse: match[2] ?? null }
    }
    case 'XCLIENT':
    case 'XFORWARD': {
      const attributes = parseParams(rest)
      if (!attributes || attributes.length === 0) return fault(verb, 'syntaxError')
      return { verb, attributes }
    }
    default:
      return fault(verb, 'unknownCommand')
  }
}

/** True when a parse result is a Fault. */
export function isFault(result: Command | Fault): result is Fault {
  return 'fault' in result
}
