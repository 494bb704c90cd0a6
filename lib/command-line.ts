// The rules a command line meets before it is parsed: how long it may be (AUTH lines are longer,
// RFC 4954 §4), that it is UTF-8, and which verb the diagnostics report for it. Pure.

import { isUtf8 } from 'node:buffer'
import { AUTH_LINE_LIMIT } from './capabilities.js'
import type { LineFault } from './line-reader.js'
import { isFault, type Command, type Fault } from './parser.js'
import { REPLIES, type Reply } from './replies.js'

/** How long a line the framer reads: at the AUTH limit when AUTH is offered; each command is then held to its own. */
export function framingLimit(limit: number, authOffered: boolean): number {
  return authOffered ? Math.max(limit, AUTH_LINE_LIMIT) : limit
}

/**
 * The reply refusing a framed line, or null when it may be parsed: a framing fault, a line over
 * `limit` octets (CRLF included) that is not AUTH, or one that is not UTF-8.
 */
export function refusalOf(line: Buffer | null, fault: LineFault | null, limit: number): Reply | null {
  if (fault) return fault === 'tooLong' ? REPLIES.lineTooLong : REPLIES.bareLineFeed
  if (line === null) return null
  if (line.length + 2 > limit && !isAuthLine(line)) return REPLIES.lineTooLong
  if (!isUtf8(line)) return REPLIES.invalidUtf8
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
