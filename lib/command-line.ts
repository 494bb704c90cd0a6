// The rules a command line meets before it is parsed: how long it may be (AUTH lines are longer,
// RFC 4954 §4), that it is UTF-8, and which verb the diagnostics report for it. Pure.

import { AUTH_LINE_LIMIT } from './capabilities.js'
import type { LineReader } from './line-reader.js'
import { isFault, type Command, type Fault } from './parser.js'
import { REPLIES, type Reply } from './replies.js'

/** How long a line the framer reads: at the AUTH limit when AUTH is offered; each command is then held to its own. */
export function framingLimit(limit: number, authOffered: boolean): number {
  return authOffered ? Math.max(limit, AUTH_LINE_LIMIT) : limit
}

/**
 * The reply refusing the line `lines` framed last, or null when it may be parsed: a framing fault,
 * a line over `limit` octets (CRLF included) that is not AUTH, or one that is not UTF-8.
 */
export function refusalOf(lines: LineReader, limit: number): Reply | null {
  const fault = lines.fault
  if (fault) return fault === 'tooLong' ? REPLIES.lineTooLong : REPLIES.bareLineFeed
  if (!lines.hasLine) return null
  if (lines.lineLength + 2 > limit && !isAuthLine(lines.line ?? Buffer.alloc(0))) return REPLIES.lineTooLong
  if (!lines.isUtf8()) return REPLIES.invalidUtf8
  return null
}

/** The verb as `smtpwire:command` reports it: only verbs smtpwire knows, so the set stays small. */
export function knownVerb(parsed: Command | Fault): string {
  if (!isFault(parsed)) return parsed.verb
  return parsed.verb === null || parsed.fault === 'unknownCommand' ? 'UNKNOWN' : parsed.verb
}

function isAuthLine(line: Buffer): boolean {
  return line.length >= 5 && line.subarray(0, 5).toString('latin1').toUpperCase() === 'AUTH '
}
