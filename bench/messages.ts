// Test messages for the load and benchmark scripts, each unique and carrying its own id, and the
// integrity check: every acknowledged message stored intact, nothing unacknowledged stored.

import { createHash, randomBytes } from 'node:crypto'

const LINE = 78
const POOL_LINES = 1024
// Body lines: 76 base64 characters and CRLF. Every 13th starts with a dot, so DATA exercises
// dot-stuffing on the way in and unstuffing in the server.
const POOL = ((): Buffer => {
  const text = randomBytes((POOL_LINES * 76 * 3) / 4).toString('base64')
  const pool = Buffer.alloc(POOL_LINES * LINE)
  for (let line = 0; line < POOL_LINES; line++) {
    pool.write(text.slice(line * 76, line * 76 + 76), line * LINE, 'latin1')
    pool.write('\r\n', line * LINE + 76, 'latin1')
    if (line % 13 === 5) pool[line * LINE] = 0x2e
  }
  return pool
})()

/**
 * Message `id`: a header block naming it (`X-Bench-Id`), then body lines up to exactly `size`
 * octets (or just the headers, if `size` is smaller), ending with CRLF. No line is over 78 octets.
 */
export function makeMessage(id: number, size: number): Buffer {
  const header =
    `From: <bench@client.test>\r\nTo: <bench@server.test>\r\nSubject: bench message ${id}\r\n` +
    `Message-ID: <${id}.bench@client.test>\r\nX-Bench-Id: ${id}\r\n\r\n`
  const headerLength = Buffer.byteLength(header, 'latin1')
  const message = Buffer.allocUnsafe(Math.max(size, headerLength))
  message.write(header, 0, 'latin1')
  if (message.length === headerLength) return message
  // Start at a different pool line per id, so bodies differ beyond the headers too.
  const first = ((id * 7919) % POOL_LINES) * LINE
  const copied = POOL.copy(message, headerLength, first)
  if (headerLength + copied < message.length) message.fill(POOL, headerLength + copied)
  // The last line may be cut short: end it with CRLF, and never leave a bare CR before it.
  const end = message.length
  message[end - 2] = 0x0d
  message[end - 1] = 0x0a
  if (end - 3 >= headerLength && message[end - 3] === 0x0d) message[end - 3] = 0x41
  return message
}

/** The id a stored message carries in its `X-Bench-Id` header, or null. */
export function messageId(message: Buffer): number | null {
  const match = /^X-Bench-Id: (\d+)\r$/m.exec(message.toString('latin1', 0, Math.min(message.length, 2048)))
  return match ? Number(match[1]) : null
}

const TRACE = /^(?:(?:Return-Path|Received):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*/i

/** A stored message without the trace headers a server prepended (`Return-Path:`, `Received:`). */
export function stripTrace(stored: Buffer): Buffer {
  const match = TRACE.exec(stored.toString('latin1', 0, Math.min(stored.length, 16 * 1024)))
  return stored.subarray(match ? match[0].length : 0)
}

/** sha256 in hex. */
export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** What the client knows about a message it sent: its hash, and whether it got a 250. */
export interface SentMessage {
  readonly sha256: string
  readonly acknowledged: boolean
}

/** The integrity check's findings. */
export interface IntegrityReport {
  /** True when every acknowledged message is stored once, intact, and nothing else is stored. */
  readonly ok: boolean
  readonly acknowledged: number
  readonly stored: number
  readonly intact: number
  /** Acknowledged but not stored. */
  readonly missing: number
  /** Stored with other bytes than were sent. */
  readonly corrupt: number
  /** Stored though the client never got a 250 for it. */
  readonly unacknowledged: number
  /** Stored more than once. */
  readonly duplicates: number
  /** Stored without a known id. */
  readonly unidentified: number
  /** The first few problems, for the reader. */
  readonly problems: readonly string[]
}

/**
 * Checks stored messages (trace headers are stripped here) against what was sent, by id: `sent[id]`.
 */
export function checkIntegrity(sent: readonly SentMessage[], files: Iterable<Buffer>): IntegrityReport {
  const seen = new Uint8Array(sent.length)
  const problems: string[] = []
  const note = (problem: string): void => void (problems.length < 10 && problems.push(problem))
  let count = 0
  let intact = 0
  let corrupt = 0
  let unacknowledged = 0
  let duplicates = 0
  let unidentified = 0
  for (const file of files) {
    count++
    const message = stripTrace(file)
    const id = messageId(message)
    const expected = id === null ? undefined : sent[id]
    if (id === null || !expected) {
      unidentified++
      note(`a stored message has no known id: ${JSON.stringify(message.toString('latin1', 0, 120))}`)
      continue
    }
    if (seen[id]) {
      duplicates++
      note(`message ${id} is stored more than once`)
    }
    seen[id] = 1
    if (!expected.acknowledged) {
      unacknowledged++
      note(`message ${id} is stored but was not acknowledged`)
    }
    if (sha256(message) === expected.sha256) {
      intact++
    } else {
      corrupt++
      note(`message ${id} is stored with other bytes (${message.length} octets)`)
    }
  }
  let acknowledged = 0
  let missing = 0
  sent.forEach((message, id) => {
    if (!message.acknowledged) return
    acknowledged++
    if (!seen[id]) {
      missing++
      note(`message ${id} was acknowledged but is not stored`)
    }
  })
  const ok = missing === 0 && corrupt === 0 && unacknowledged === 0 && duplicates === 0 && unidentified === 0
  const stored = count
  return { ok, acknowledged, stored, intact, missing, corrupt, unacknowledged, duplicates, unidentified, problems }
}

/** One line for a report: OK or the counts that are wrong. */
export function describeIntegrity(report: IntegrityReport): string {
  const { acknowledged, stored, intact, missing, corrupt, unacknowledged, duplicates, unidentified } = report
  const counts =
    `${acknowledged} acknowledged, ${stored} stored, ${intact} intact, ${missing} missing, ${corrupt} corrupt, ` +
    `${unacknowledged} stored unacknowledged, ${duplicates} duplicates, ${unidentified} unidentified`
  return `${report.ok ? 'OK' : 'FAILED'} (${counts})`
}
