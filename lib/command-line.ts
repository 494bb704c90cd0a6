// The rules a command line meets before it is parsed: how long it may be (AUTH lines are longer,
// RFC 4954 §4), that it is UTF-8, and which verb the diagnostics report for it. Pure.

import { AUTH_LINE_LIMIT } from './capabilities.js'
import type { LineReader } from './line-reader.js'
import { BARE_LINES, isFault, type Command, type Fault } from './parser.js'
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

/**
 * The command `lines` framed last when it is one of the bare verbs clients send per message (DATA,
 * RSET, QUIT, NOOP, in capitals), read from its octets: what parseCommand() makes of that line,
 * without the string. Such a line is four ASCII letters: it is UTF-8 and within any line limit.
 * Null for any other line, which goes through refusalOf() and parseCommand().
 */
export function bareCommand(lines: LineReader): Command | null {
  if (lines.lineLength !== 4 || lines.fault !== null) return null
  for (let i = 0; i < BARE_LINES.length; i++) {
    const [octets, command] = BARE_LINES[i] as (typeof BARE_LINES)[number]
    if (lines.is(octets)) return command
  }
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
