import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DotDecoder, type DotDecoderOptions, type LineEndingPolicy, type PieceSink } from '../lib/dot-decoder.js'
import { LINE_SCAN_WASM } from '../lib/line-scan-wasm.js'
import { lineScanner, WINDOW } from '../lib/line-scan.js'
import { ReferenceDotDecoder } from './helpers/reference-dot-decoder.js'
import { Random, specSeed } from './helpers/random.js'

const ROOT = new URL('../../', import.meta.url)

/** What the scanner must find, one octet at a time: see LineScanner.find. */
function expectedFind(view: Buffer, from: number, dots: boolean): number {
  for (let p = from; p < view.length; p++) {
    const b = view[p]
    if (b === 0x0d && view[p + 1] !== 0x0a) return p
    if (b === 0x0a && view[p - 1] !== 0x0d) return p
    if (dots && b === 0x2e && view[p - 1] === 0x0a) return p
  }
  return view.length
}

/**
 * What unstuff() stops at: find()'s answer, except that an ordinary dot line (followed, inside the
 * window, by an octet that is neither CR nor LF, and not at `from`) does not stop it.
 */
function expectedFindUnstuffing(view: Buffer, from: number, windowEnd: number): number {
  for (let p = from; ; ) {
    const found = expectedFind(view, p, true)
    if (found >= windowEnd) return found
    const ordinary = view[found] === 0x2e && found !== from && found + 1 < windowEnd && view[found + 1] !== 0x0d && view[found + 1] !== 0x0a
    if (!ordinary) return found
    p = found + 1
  }
}

/** Text rich in what the decoder decides on: CR, LF, dots, CRLF.CRLF, and plain runs between them. */
function noisyText(random: Random, tokens: number): string {
  const pieces = ['a', 'bc', '.', '..', '\r', '\n', '\r\n', '\r\n.', '\r\n..', '\r\n.\r\n', '\n.\n', '\r.\r', '.\r', '\r\n.\r', 'x'.repeat(40), 'y'.repeat(17)]
  let text = ''
  for (let t = 0; t < tokens; t++) text += random.pick(pieces)
  return text
}

/** Clean CRLF text lines (some dot-stuffed), with `noise` octets of trouble dropped in at random places. */
function mostlyClean(random: Random, length: number, noise: number): Buffer {
  const lines: string[] = []
  let size = 0
  while (size < length) {
    const line = `${random.int(30) === 0 ? '..' : ''}${'word '.repeat(random.int(16))}${random.int(50) === 0 ? '' : 'end'}`
    lines.push(line)
    size += line.length + 2
  }
  const bytes = Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1')
  const trouble = [0x0d, 0x0a, 0x2e]
  for (let n = 0; n < noise; n++) bytes[random.int(bytes.length)] = random.pick(trouble)
  return bytes
}

interface Run {
  /** Per decode() call: the position it returned and the output so far, as latin1. */
  calls: Array<{ read: number; output: string; done: boolean }>
  fault: string | null
}

interface Decoder {
  done: boolean
  fault: string | null
  decode(input: Buffer, start: number, end: number, out: PieceSink): number
}

/**
 * A sink that takes octets from the scanner's memory too (as the body reader does), so the
 * decoder unstuffs dot lines in the module: it keeps a copy, and scribbles over the octets it was
 * given once it has them, as the next window would, so a view kept by mistake shows up.
 */
class AppendingSink extends Array<Buffer> implements PieceSink {
  /** Appends by every sink so far: a spec checks its runs took the module's lane. */
  static total = 0
  appended = 0
  append(source: Uint8Array, from: number, to: number): void {
    this.push(Buffer.from(source.subarray(from, to)))
    this.appended++
    AppendingSink.total++
    source.fill(0x21, from, to)
  }
}

/**
 * 16 KiB of clean lines: a decoder that has read them (and not the end) takes the long-body lane
 * from its next call, where DATA dot lines are unstuffed in the module. It ends at a line start,
 * so what follows decodes as it would from the start of a body.
 */
const LONG_PREFIX = Buffer.from('kkkkkk\r\n'.repeat(2048), 'latin1') // short lines: within any text-line limit a spec sets

/**
 * Feeds `pieces` as the engine would: each piece inside a larger buffer with octets before and
 * after it (BDAT's next command, say), decoding only [start, end). With `appending`, the decoder
 * first reads LONG_PREFIX (output not kept), and the sink takes unstuffed octets out of the
 * scanner's memory (the long-body lane); else it is an array.
 */
function run(decoder: Decoder, pieces: readonly Buffer[], random: Random, appending = false): Run {
  const out: Buffer[] = appending ? new AppendingSink() : []
  if (appending) decoder.decode(LONG_PREFIX, 0, LONG_PREFIX.length, new AppendingSink())
  const calls: Run['calls'] = []
  for (const piece of pieces) {
    const before = Buffer.from('\r\n.\r'.slice(0, random.int(5)), 'latin1')
    const after = Buffer.from('\n.\r\n'.slice(0, random.int(5)), 'latin1')
    const input = Buffer.concat([before, piece, after])
    const read = decoder.decode(input, before.length, before.length + piece.length, out)
    calls.push({ read: read - before.length, output: Buffer.concat(out).toString('latin1'), done: decoder.done })
    if (decoder.done) break
  }
  return { calls, fault: decoder.fault }
}

function agree(bytes: Buffer, options: DotDecoderOptions, random: Random, context: string, maxPieces = 12): void {
  const pieces = random.split(bytes, maxPieces)
  const expected = run(new ReferenceDotDecoder(options), pieces, new Random(random.seed + 1))
  const label = `${context} ${JSON.stringify(options)} pieces ${pieces.map((p) => p.length).join(',')}`
  expect(run(new DotDecoder(options), pieces, new Random(random.seed + 1)), label).to.deep.equal(expected)
  expect(run(new DotDecoder(options), pieces, new Random(random.seed + 1), true), `${label} (appending sink)`).to.deep.equal(expected)
}

const POLICIES: readonly LineEndingPolicy[] = ['reject', 'normalize', 'keep']

describe('line scanner', () => {
  it('is built from lib/line-scan.wat (run `npm run wasm` after changing it)', async () => {
    const tool = fileURLToPath(new URL('tools/assemble-line-scan.mjs', ROOT))
    const { assemble } = (await import(tool)) as { assemble: (text: string) => Promise<Buffer> }
    const source = readFileSync(new URL('lib/line-scan.wat', ROOT), 'utf8')
    expect((await assemble(source)).toString('base64')).to.equal(LINE_SCAN_WASM)
  })

  it('runs on this Node (WebAssembly SIMD)', () => {
    expect(lineScanner()).to.not.equal(null)
  })

  it('finds the first octet the state machine must decide on, across windows', () => {
    const seed = specSeed()
    const random = new Random(seed)
    const scanner = lineScanner()
    if (!scanner) throw new Error('no scanner')
    for (let round = 0; round < 300; round++) {
      // Long enough to span windows now and then, with trouble near the window edges.
      const view = round % 10 === 0 ? mostlyClean(random, WINDOW * 2 + random.int(100), 3) : Buffer.from(noisyText(random, random.int(60)), 'latin1')
      const dots = random.int(2) === 0
      scanner.reset()
      let from = random.int(view.length + 1)
      for (let step = 0; step < 50 && from < view.length; step++) {
        const found = scanner.find(view, from, dots)
        expect(found, `seed ${seed} round ${round} from ${from}`).to.equal(expectedFind(view, from, dots))
        from = found + 1 + random.int(3)
      }
    }
  })

  it('finds one trouble octet at any place in and around the 64-octet blocks it filters', () => {
    // The module filters clean text 64 octets at a time and checks a block's first octet on its
    // own (at the start, and after an exact pass over a flagged block): every offset from every
    // start must still give the exact first position.
    const scanner = lineScanner()
    if (!scanner) throw new Error('no scanner')
    const clean = Buffer.from('abcdefg\r\n'.repeat(40), 'latin1')
    const troubles: Array<[string, (view: Buffer, at: number) => void]> = [
      ['bare CR', (view, at) => void (view[at] = 0x0d)],
      ['bare LF', (view, at) => void (view[at] = 0x0a)],
      ['dot after LF', (view, at) => void (view[at - 1] === 0x0a && (view[at] = 0x2e))],
      ['CR at the end', (view, at) => void (view[at] = 0x0d)],
    ]
    let checked = 0
    for (const [name, make] of troubles) {
      for (let at = 1; at < 200; at++) {
        const view = Buffer.from(clean)
        make(view, at)
        const slice = name === 'CR at the end' ? view.subarray(0, at + 1) : view
        for (const from of [0, 1, 7, 15, 16, 63, 64, 65, 127, 128, at, at + 1]) {
          if (from > slice.length) continue
          for (const dots of [false, true]) {
            scanner.reset()
            expect(scanner.find(slice, from, dots), `${name} at ${at} from ${from} dots ${dots}`).to.equal(expectedFind(slice, from, dots))
            checked++
          }
        }
      }
    }
    expect(checked).to.be.greaterThan(8000)
  })

  it('does not read past the end of its view', () => {
    const scanner = lineScanner()
    if (!scanner) throw new Error('no scanner')
    const input = Buffer.from('abc\r\nBDAT')
    // The view ends between CR and LF: the CR is unknown, so it is reported.
    expect(scanner.find(input.subarray(0, 4), 0, false)).to.equal(3)
    scanner.reset()
    expect(scanner.find(input.subarray(0, 5), 0, false)).to.equal(5)
  })
})

describe('DotDecoder with the line scanner equals the per-line decoder', () => {
  for (const policy of POLICIES) {
    for (const dotStuffed of [true, false]) {
      for (const maxTextLineLength of [0, 40]) {
        it(`on noisy text under random splits (${policy}, ${dotStuffed ? 'DATA' : 'BDAT'}, limit ${maxTextLineLength})`, () => {
          const seed = specSeed()
          const random = new Random(seed)
          for (let round = 0; round < 500; round++) {
            const bytes = Buffer.from(noisyText(random, random.int(40)), 'latin1')
            agree(bytes, { lineEndings: policy, maxTextLineLength, dotStuffed }, new Random(random.int(2 ** 31)), `seed ${seed} round ${round} ${JSON.stringify(bytes.toString('latin1'))}`)
          }
        })
      }
    }
  }

  for (const policy of POLICIES) {
    for (const dotStuffed of [true, false]) {
      it(`on large mostly clean bodies across windows (${policy}, ${dotStuffed ? 'DATA' : 'BDAT'})`, () => {
        const seed = specSeed()
        const random = new Random(seed)
        for (let round = 0; round < 12; round++) {
          const bytes = mostlyClean(random, WINDOW + random.int(3 * WINDOW), random.int(4))
          const tail = dotStuffed && random.int(2) === 0 ? Buffer.from('.\r\nMAIL') : Buffer.alloc(0)
          agree(Buffer.concat([bytes, tail]), { lineEndings: policy, maxTextLineLength: 0, dotStuffed }, new Random(random.int(2 ** 31)), `seed ${seed} round ${round}`, 6)
        }
      })
    }
  }

  it('at every split point of edge cases around the end marker and pairs', () => {
    const inputs = ['a\r\n.\r\n', 'a\r\n.\rb\r\n.\r\n', 'a\r\r\n\r\n..\r\n.\r\n', 'x\n.\r\n\r\n.\r\n', 'y\r\n\n.\r\n.\r\n', '\r\n\r\n.\r\r\n.\r\n', 'a\r', '.\r', '\n\r\n.\r\n']
    for (const text of inputs) {
      const bytes = Buffer.from(text, 'latin1')
      for (const policy of POLICIES) {
        for (const dotStuffed of [true, false]) {
          const options = { lineEndings: policy, maxTextLineLength: 0, dotStuffed }
          for (let k = 0; k <= bytes.length; k++) {
            const pieces = [bytes.subarray(0, k), bytes.subarray(k)]
            const random = new Random(k)
            const expected = run(new ReferenceDotDecoder(options), pieces, random)
            for (const appending of [false, true]) {
              const actual = run(new DotDecoder(options), pieces, new Random(k), appending)
              expect(actual, `${JSON.stringify(text)} split at ${k} ${JSON.stringify(options)} appending ${appending}`).to.deep.equal(expected)
            }
          }
        }
      }
    }
  })

  it('unstuffs dot lines in the module exactly as the state machine does, at every offset around windows and blocks', () => {
    // The first windows of a decode() call are [0, 2 KiB), [2, 6), [6, 14), [14, 30), [30, 62) KiB,
    // then 64 KiB each; after a long read (the appending runs) 64 KiB from the start. The module
    // filters 64 octets a step and checks 16 at a time.
    const edges = [0, 16, 63, 64, 128, 2048, 6144, 14336, 30720, 63488, WINDOW, 63488 + WINDOW, 2 * WINDOW]
    const patterns = ['.x\r\n', '..y\r\n', '.\r\n', '.\rz\r\n', '.\nw\r\n', '.', '.\r', '..', '.\r\n.\r\n', '.a\r\n.b\r\n']
    const seed = specSeed()
    const random = new Random(seed)
    let appended = 0
    const appendsBefore = AppendingSink.total
    for (const edge of edges) {
      for (let delta = -3; delta <= 3; delta++) {
        const at = edge + delta
        if (at < 0) continue
        for (const pattern of patterns) {
          // Clean lines (some dot-stuffed) up to `at`, where a line starts with the pattern's dot.
          const before = at === 0 ? '' : at === 1 ? '\n' : `${'.q\r\n'.repeat(Math.floor((at - 2) / 4) % 3)}`.padEnd(at - 2, 'k') + '\r\n'
          const text = `${before}${pattern}${random.int(2) === 0 ? 'more\r\n..dot\r\n.\r\n' : ''}`
          const bytes = Buffer.from(text, 'latin1')
          for (const policy of ['reject', 'normalize'] as const) {
            const options = { lineEndings: policy, maxTextLineLength: 0, dotStuffed: true }
            const whole = [bytes]
            const expected = run(new ReferenceDotDecoder(options), whole, new Random(at))
            const sink = new Random(at)
            const actual = run(new DotDecoder(options), whole, sink, true)
            expect(actual, `seed ${seed} dot at ${at} pattern ${JSON.stringify(pattern)} ${policy}`).to.deep.equal(expected)
            agree(bytes, options, new Random(random.int(2 ** 31)), `seed ${seed} dot at ${at} pattern ${JSON.stringify(pattern)}`, 4)
            appended++
          }
        }
      }
    }
    expect(appended).to.be.greaterThan(1000)
    // Most cases unstuff at least one dot line in the module (the prefix itself has none).
    expect(AppendingSink.total - appendsBefore).to.be.greaterThan(1000)
  })

  it('takes the unstuffed octets out of the module once a window, not once a dot line', () => {
    // The bench's message shape: a dot line every 13 lines of 78 octets.
    const line = (n: number): string => `${n % 13 === 5 ? '.' : 'x'}${'y'.repeat(75)}\r\n`
    let text = ''
    for (let n = 0; text.length < 4 * WINDOW; n++) text += line(n)
    const bytes = Buffer.from(`${text}.\r\n`, 'latin1')
    const options = { lineEndings: 'reject', maxTextLineLength: 0, dotStuffed: true } as const
    const decoder = new DotDecoder(options)
    const sink = new AppendingSink()
    const perRead: number[] = []
    for (let at = 0; at < bytes.length && !decoder.done; at += WINDOW) {
      const before = sink.length
      decoder.decode(bytes, at, Math.min(bytes.length, at + WINDOW), sink)
      perRead.push(sink.length - before)
    }
    expect(decoder.done).to.equal(true)
    const reference = new ReferenceDotDecoder(options)
    const pieces: Buffer[] = []
    reference.decode(bytes, 0, bytes.length, pieces)
    expect(Buffer.concat(sink).equals(Buffer.concat(pieces))).to.equal(true)
    // About 260 dot lines in 4 reads: the reference makes a piece for each. So does the first read
    // here (a body may be a small one among pipelined ones: views and one batch copy cost less),
    // then, the body having gone on past a long read, the module's lane makes a few per read (one a
    // window, and the clean rest after a window's last dot line).
    expect(pieces.length).to.be.greaterThan(250)
    expect(perRead[0]).to.be.greaterThan(60)
    expect(perRead.slice(1)).to.have.length.of.at.least(3)
    for (const count of perRead.slice(1)) expect(count).to.be.lessThan(8)
    expect(sink.appended).to.be.greaterThan(0)
  })

  it('LineScanner.unstuff(): output, stop and resume point equal an octet-at-a-time model', () => {
    const scanner = lineScanner()
    if (!scanner) throw new Error('no scanner')
    const seed = specSeed()
    const random = new Random(seed)
    for (let round = 0; round < 400; round++) {
      const view = round % 10 === 0 ? mostlyClean(random, WINDOW + random.int(1000), 3) : Buffer.from(noisyText(random, random.int(80)), 'latin1')
      scanner.reset()
      let from = random.int(Math.min(view.length + 1, 50))
      for (let step = 0; step < 40 && from < view.length; step++) {
        const found = scanner.unstuff(view, from)
        const windowEnd = scanner.windowEnd
        // The model: the first octet find() reports from `from`, within the window; every dot
        // after a CRLF before it, not at `from`, followed inside the window by neither CR nor LF,
        // is taken out; the output runs to just after the last one.
        const stop = Math.min(expectedFindUnstuffing(view, from, windowEnd), windowEnd)
        const context = `seed ${seed} round ${round} from ${from} window end ${windowEnd}`
        expect(found, context).to.equal(stop)
        let last = from
        const kept: number[] = []
        for (let p = from; p < found; p++) {
          if (view[p] === 0x2e && view[p - 1] === 0x0a && p !== from && p + 1 < windowEnd && view[p + 1] !== 0x0d && view[p + 1] !== 0x0a) {
            for (let k = last; k < p; k++) kept.push(view[k] ?? 0)
            last = p + 1
          }
        }
        expect(scanner.unstuffedTo, context).to.equal(last)
        expect([...scanner.memory.subarray(scanner.outFrom, scanner.outTo)], context).to.deep.equal(kept)
        from = found + (found < windowEnd ? 1 + random.int(3) : 0)
      }
    }
  })

  it('falls back to the per-line lane without WebAssembly (node --jitless)', () => {
    const decoder = fileURLToPath(new URL('dist/lib/dot-decoder.js', ROOT))
    const scan = fileURLToPath(new URL('dist/lib/line-scan.js', ROOT))
    const script = [
      `const { DotDecoder } = await import(${JSON.stringify(decoder)})`,
      `const { lineScanner } = await import(${JSON.stringify(scan)})`,
      `const d = new DotDecoder({ lineEndings: 'reject', maxTextLineLength: 0, dotStuffed: true })`,
      `const out = []`,
      `const input = Buffer.from('a\\r\\n..b\\r\\n.\\r\\n')`,
      `const read = d.decode(input, 0, input.length, out)`,
      `console.log(JSON.stringify([lineScanner() === null, read, d.done, d.fault, Buffer.concat(out).toString()]))`,
    ].join('\n')
    const child = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(child.status, child.stderr).to.equal(0)
    expect(JSON.parse(child.stdout)).to.deep.equal([true, 11, true, null, 'a\r\n.b\r\n'])
  })
})
