// Benchmark case 3: the protocol core alone, no sockets. MB/s of DATA framing and dot-unstuffing
// on realistic text mail, for the decoder by itself and for a whole in-memory SmtpProtocol session.
// Run: npm run build && node dist/bench/core.js [--megabytes 2048] [--malloc pinned|default]

import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { DotDecoder } from '../lib/dot-decoder.js'
import { SmtpProtocol, type SmtpTransport } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { coreTarget } from './compare-report.js'
import { PINNED_MALLOC, pinnedMallocEnv } from './proc.js'

const READ = 64 * 1024 // what a socket read delivers

/** A realistic text message: headers, then quoted-printable-like body lines of 60–76 octets, some starting with a dot. */
export function textMail(size: number): Buffer {
  const words = 'the quick brown fox jumps over lazy dogs while smtp servers parse mail at speed'.split(' ')
  const lines: string[] = [
    'Received: from client.example.net (client.example.net [192.0.2.10])',
    '\tby mx.example.org (smtpwire) with ESMTPS id 4f2a.1;',
    '\tTue, 24 Nov 2026 10:00:00 +0000',
    'From: Alice <alice@example.net>',
    'To: Bob <bob@example.org>',
    'Subject: a realistic message for the benchmark',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
  ]
  let length = lines.reduce((sum, line) => sum + line.length + 2, 0)
  let n = 0
  while (length < size) {
    let line = n % 40 === 0 ? '' : n % 97 === 0 ? '.. a line that started with a dot' : ''
    while (line.length < 60 + (n % 17)) line += `${words[(n * 7 + line.length) % words.length]} `
    if (n % 40 !== 0) line = `${line.trimEnd()}=`
    lines.push(line)
    length += line.length + 2
    n++
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`)
}

/** The message as sent after DATA: the end marker appended (the body is already dot-stuffed). */
function asData(message: Buffer): Buffer {
  return Buffer.concat([message, Buffer.from('.\r\n')])
}

function reads(data: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < data.length; at += READ) pieces.push(data.subarray(at, at + READ))
  return pieces
}

/**
 * The line rules a run applies: the library's defaults (read from resolveOptions, so this follows
 * them), the defaults plus RFC 5321's 1000-octet text-line limit, or none (so the decoder only
 * looks for dot lines).
 */
type Checks = 'default' | 'strict' | 'none'

const DEFAULTS = resolveOptions({})
const RULES = {
  default: { lineEndings: DEFAULTS.lineEndings, maxTextLineLength: DEFAULTS.maxTextLineLength },
  strict: { lineEndings: DEFAULTS.lineEndings, maxTextLineLength: 1000 },
  none: { lineEndings: 'keep', maxTextLineLength: 0 },
} as const
const CHECKS = ['default', 'strict', 'none'] as const

/** MB/s of the decoder alone over `total` octets of DATA. */
function decoderOnly(pieces: Buffer[], messageLength: number, total: number, checks: Checks): number {
  const out: Buffer[] = []
  let octets = 0
  const started = performance.now()
  while (octets < total) {
    const decoder = new DotDecoder({ ...RULES[checks], dotStuffed: true })
    for (const piece of pieces) {
      decoder.decode(piece, 0, piece.length, out)
      out.length = 0
    }
    if (!decoder.done || decoder.fault) throw new Error('the benchmark message did not decode cleanly')
    octets += messageLength
  }
  return octets / 1e6 / ((performance.now() - started) / 1000)
}

/** MB/s of a whole in-memory session: DATA through the engine, batching and dataChunk dispatch. */
function protocolSession(pieces: Buffer[], messageLength: number, total: number, checks: Checks): number {
  const smtp = new SmtpProtocol({ domain: 'bench.test', maxMessageSize: 0, collectBody: false, ...RULES[checks] })
  let delivered = 0
  smtp.on('dataChunk', ({ chunk }) => void (delivered += chunk.length))
  const transport: SmtpTransport = { write: () => true, end: () => undefined }
  smtp.open(transport)
  smtp.feed(Buffer.from('EHLO client.test\r\n'))
  const envelope = Buffer.from('MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n')
  let octets = 0
  const started = performance.now()
  while (octets < total) {
    smtp.feed(envelope)
    for (const piece of pieces) smtp.feed(piece)
    octets += messageLength
  }
  const seconds = (performance.now() - started) / 1000
  if (delivered < octets * 0.99) throw new Error(`only ${delivered} of ${octets} octets were delivered`)
  return octets / 1e6 / seconds
}

/** Case 3's figures, in MB/s (and the session's minor page faults per MB), per set of line rules. */
export type CoreResult = Record<Checks, { decoder: number; protocol: number; faultsPerMB: number }>

function describe(checks: Checks): string {
  const rules = RULES[checks]
  const limit = rules.maxTextLineLength === 0 ? 'no text-line limit' : `text lines ≤ ${rules.maxTextLineLength} octets`
  return `lineEndings ${rules.lineEndings}, ${limit}`
}

/** Runs case 3 and prints its figures; returns them for a caller that reports several cases. */
export function main(megabytes = 2048): CoreResult {
  const message = textMail(1024 * 1024)
  const pieces = reads(asData(message))
  const total = megabytes * 1e6
  // A warm-up pass lets V8 optimise before the measured one.
  for (const checks of CHECKS) {
    decoderOnly(pieces, message.length, 64e6, checks)
    protocolSession(pieces, message.length, 64e6, checks)
  }
  // Interleaved, so a burst of machine noise does not land on one column only.
  const result = {} as CoreResult
  for (const checks of CHECKS) result[checks] = { decoder: 0, protocol: 0, faultsPerMB: 0 }
  for (const checks of CHECKS) result[checks].decoder = decoderOnly(pieces, message.length, total, checks)
  for (const checks of CHECKS) {
    const faults = process.resourceUsage().minorPageFault
    result[checks].protocol = protocolSession(pieces, message.length, total, checks)
    result[checks].faultsPerMB = (process.resourceUsage().minorPageFault - faults) / megabytes
  }
  const cell = (value: number): string => `${value.toFixed(0).padStart(8)} MB/s`
  console.log(`case 3: the core alone, ${megabytes} MB of realistic text mail in ${READ / 1024} KiB reads`)
  // Each copied dataChunk batch is a fresh 64–70 KiB Buffer: where glibc trimmed its heap, its pages fault in again.
  console.log(
    process.env.GLIBC_TUNABLES?.includes(PINNED_MALLOC)
      ? '  glibc malloc pinned (GLIBC_TUNABLES trim and mmap thresholds; --malloc default for glibc as it comes)'
      : '  glibc malloc as it comes: heap trims fault batch pages in again, and the session figure follows them',
  )
  console.log('                                                  library defaults  1000-octet lines   no line rules')
  console.log(`  DotDecoder (framing, dot-unstuffing)            ${CHECKS.map((c) => cell(result[c].decoder)).join('     ')}`)
  console.log(`  SmtpProtocol session (engine, batching, events) ${CHECKS.map((c) => cell(result[c].protocol)).join('     ')}`)
  console.log(`    its minor page faults per MB               ${CHECKS.map((c) => result[c].faultsPerMB.toFixed(1).padStart(13)).join('     ')}`)
  for (const checks of CHECKS) console.log(`  ${checks === 'default' ? 'library defaults' : checks === 'strict' ? '1000-octet lines' : 'no line rules'}: ${describe(checks)}${checks === 'none' ? ' (unsafe to relay)' : ''}`)
  console.log(`  target: ${coreTarget(result.default.protocol * 1e6).line}`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { megabytes: { type: 'string', default: '2048' }, malloc: { type: 'string', default: 'pinned' } },
    strict: true,
  })
  if (values.malloc !== 'pinned' && values.malloc !== 'default') throw new Error(`--malloc is pinned or default, got ${values.malloc}`)
  if (values.malloc === 'pinned' && !process.env.GLIBC_TUNABLES?.includes(PINNED_MALLOC)) {
    // glibc reads its tunables at start: run again with them set, as compare.ts runs its servers.
    const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env: pinnedMallocEnv(), stdio: 'inherit' })
    process.exit(again.status ?? 1)
  }
  main(Number(values.megabytes))
}
