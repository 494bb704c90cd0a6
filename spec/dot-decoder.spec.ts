import { expect } from 'chai'
import { DotDecoder, type DecodeFault, type LineEndingPolicy } from '../lib/dot-decoder.js'
import { Random, specSeed } from './helpers/random.js'

interface Decoded {
  output: string
  done: boolean
  end: number
  fault: DecodeFault | null
}

/** Feeds `pieces` one after another, as a socket would deliver them. */
function decodePieces(
  pieces: readonly Buffer[],
  policy: LineEndingPolicy,
  maxTextLineLength = 0,
  dotStuffed = true,
): Decoded {
  const decoder = new DotDecoder({ lineEndings: policy, maxTextLineLength, dotStuffed })
  const out: Buffer[] = []
  let offset = 0
  for (const piece of pieces) {
    const read = decoder.decode(piece, 0, piece.length, out)
    if (decoder.done) return { output: Buffer.concat(out).toString('latin1'), done: true, end: offset + read, fault: decoder.fault }
    offset += piece.length
  }
  return { output: Buffer.concat(out).toString('latin1'), done: false, end: offset, fault: decoder.fault }
}

function decode(text: string, policy: LineEndingPolicy = 'keep', max = 0): Decoded {
  return decodePieces([Buffer.from(text, 'latin1')], policy, max)
}

/**
 * The reference model: the same rules, one byte at a time over the whole input. The decoder must
 * agree with it however the input is split.
 */
function reference(bytes: Buffer, policy: LineEndingPolicy, maxLine: number, dotStuffed = true): Decoded {
  let out = ''
  let fault: DecodeFault | null = null
  let discarding = false
  let checkEndings = policy !== 'keep'
  const normalize = policy === 'normalize'
  let lineLength = 0
  let lineStart = true
  let afterLineDot = false
  const fail = (f: DecodeFault): void => {
    discarding = true
    if (f === 'bareLineEnding') {
      fault = f
      checkEndings = false
      maxLine = 0
    } else {
      fault ??= f
      maxLine = 0
    }
  }
  const put = (s: string): void => {
    if (!discarding) out += s
  }
  const n = bytes.length
  for (let i = 0; i < n; i++) {
    const b = bytes[i]
    if (dotStuffed && lineStart && b === 0x2e) {
      if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return { output: out, done: true, end: i + 3, fault }
      lineStart = false
      afterLineDot = true
      continue
    }
    lineStart = false
    const dotBefore = afterLineDot && bytes[i - 1] === 0x2e
    afterLineDot = false
    if (b === 0x0d) {
      if (i + 1 < n && bytes[i + 1] === 0x0a) {
        if (maxLine > 0 && lineLength + 2 > maxLine) fail('textLineTooLong')
        put('\r\n')
        lineLength = 0
        lineStart = true
        i++
      } else if (i + 1 === n) {
        if (!dotBefore) put('\r') // a CR the decoder cannot judge yet: emitted unless it may end the data
      } else if (checkEndings && normalize) {
        if (maxLine > 0 && lineLength + 2 > maxLine) fail('textLineTooLong')
        put('\r\n')
        lineLength = 0
      } else if (checkEndings) {
        fail('bareLineEnding')
      } else {
        put('\r')
        lineLength++
      }
    } else if (b === 0x0a) {
      if (maxLine > 0 && lineLength + (normalize ? 2 : 1) > maxLine) fail('textLineTooLong')
      lineLength = 0
      if (checkEndings && normalize) put('\r\n')
      else if (checkEndings) fail('bareLineEnding')
      else put('\n')
    } else {
      put(String.fromCharCode(b ?? 0))
      lineLength++
    }
  }
  if (maxLine > 0 && lineLength + 1 > maxLine) fail('textLineTooLong')
  return { output: out, done: false, end: n, fault }
}

describe('DotDecoder', () => {
  describe('DATA framing', () => {
    const cases: Array<[name: string, input: string, output: string]> = [
      ['ends at CRLF.CRLF and keeps the last line ending', 'Subject: a\r\n\r\nbody\r\n.\r\n', 'Subject: a\r\n\r\nbody\r\n'],
      ['reads an empty message', '.\r\n', ''],
      ['removes the stuffed dot of a line starting with ..', 'a\r\n..b\r\n.\r\n', 'a\r\n.b\r\n'],
      ['removes a leading dot followed by text', '.x\r\n.\r\n', 'x\r\n'],
      ['keeps dots that do not start a line', 'a.b\r\n.\r\n', 'a.b\r\n'],
      ['leaves a second dot pair as one dot', '...\r\n.\r\n', '..\r\n'],
    ]
    for (const [name, input, output] of cases) {
      it(name, () => {
        const result = decode(input)
        expect(result).to.deep.equal({ output, done: true, end: input.length, fault: null })
      })
    }

    it('stops right after the marker and leaves what follows unread', () => {
      const result = decode('hi\r\n.\r\nQUIT\r\n')
      expect(result.end).to.equal(7)
      expect(result.output).to.equal('hi\r\n')
    })

    it('reports not done without the marker', () => {
      expect(decode('hi\r\n.').done).to.equal(false)
    })

    it('gives the same output and end for a split at every offset', () => {
      const input = Buffer.from('From: a\r\n\r\n..dot\r\n.\rx\r\nline\r\r\n\r\n.\r\nNEXT')
      const whole = decodePieces([input], 'keep')
      for (let k = 1; k < input.length; k++) {
        const split = decodePieces([input.subarray(0, k), input.subarray(k)], 'keep')
        expect(split, `split at ${k}`).to.deep.equal(whole)
      }
    })
  })

  describe('SMTP smuggling', () => {
    // Each of these must not end the data: only CRLF.CRLF does.
    const fakeEnds = ['\n.\n', '\r.\r', '\r\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r']
    for (const fake of fakeEnds) {
      const label = JSON.stringify(fake)
      it(`does not end the data at ${label}`, () => {
        for (const policy of ['keep', 'normalize', 'reject'] as const) {
          const input = `a${fake}MAIL FROM:<x@y>\r\n`
          const result = decode(input, policy)
          expect(result.done, policy).to.equal(false)
          expect(result.end, policy).to.equal(input.length)
        }
      })
      it(`refuses ${label} under reject and normalises it under normalize`, () => {
        expect(decode(`a${fake}b\r\n.\r\n`, 'reject').fault).to.equal('bareLineEnding')
        const normalized = decode(`a${fake}b\r\n.\r\n`, 'normalize')
        expect(normalized.fault).to.equal(null)
        expect(normalized.output).to.not.match(/\r(?!\n)|(?<!\r)\n/)
      })
    }

    it('normalises bare LF and bare CR to CRLF without unstuffing after them', () => {
      expect(decode('a\nb\rc\r\n.\r\n', 'normalize').output).to.equal('a\r\nb\r\nc\r\n')
      expect(decode('a\n..b\r\n.\r\n', 'normalize').output).to.equal('a\r\n..b\r\n')
    })

    it('keeps bare line endings untouched under keep', () => {
      expect(decode('a\nb\rc\r\n.\r\n', 'keep').output).to.equal('a\nb\rc\r\n')
    })
  })

  describe('text line limit', () => {
    it('accepts a line of exactly the limit including CRLF', () => {
      expect(decode(`${'x'.repeat(998)}\r\n.\r\n`, 'reject', 1000).fault).to.equal(null)
    })
    it('refuses a line one octet over the limit', () => {
      expect(decode(`${'x'.repeat(999)}\r\n.\r\n`, 'reject', 1000).fault).to.equal('textLineTooLong')
    })
    it('does not count the stuffed dot', () => {
      expect(decode(`.${'x'.repeat(998)}\r\n.\r\n`, 'reject', 1000).fault).to.equal(null)
    })
    it('ranks a bare line ending above a long line', () => {
      expect(decode(`${'x'.repeat(2000)}\nb\r\n.\r\n`, 'reject', 1000).fault).to.equal('bareLineEnding')
    })
  })

  describe('BDAT chunks', () => {
    it('passes bytes through untouched, with no end marker', () => {
      const bytes = Buffer.from('a\r\n.\r\n..b\n')
      const result = decodePieces([bytes], 'keep', 0, false)
      expect(result).to.deep.equal({ output: 'a\r\n.\r\n..b\n', done: false, end: bytes.length, fault: null })
    })
    it('applies the line-ending policy without dot handling', () => {
      expect(decodePieces([Buffer.from('a\nb')], 'reject', 0, false).fault).to.equal('bareLineEnding')
      expect(decodePieces([Buffer.from('.a\nb')], 'normalize', 0, false).output).to.equal('.a\r\nb')
    })
    it('reads only up to the end it is given', () => {
      const decoder = new DotDecoder({ lineEndings: 'reject', maxTextLineLength: 0, dotStuffed: false })
      const out: Buffer[] = []
      const input = Buffer.from('abc\r\nBDAT 3\nxyz')
      expect(decoder.decode(input, 0, 5, out)).to.equal(5)
      expect(decoder.fault).to.equal(null)
      expect(Buffer.concat(out).toString()).to.equal('abc\r\n')
    })
  })

  describe('against the byte-at-a-time reference', () => {
    const tokens = ['a', 'bc', '.', '..', '\r', '\n', '\r\n', '\r\n.', '\r\n..', '\r\n.\r\n', '\n.\n', '\r.\r', 'x'.repeat(40)]

    for (const policy of ['keep', 'normalize', 'reject'] as const) {
      for (const dotStuffed of [true, false]) {
        it(`agrees under random splits (${policy}, ${dotStuffed ? 'DATA' : 'BDAT'})`, () => {
          const seed = specSeed()
          const random = new Random(seed)
          for (let round = 0; round < 400; round++) {
            let text = ''
            const count = random.int(30)
            for (let t = 0; t < count; t++) text += random.pick(tokens)
            const bytes = Buffer.from(text, 'latin1')
            const maxLine = random.pick([0, 0, 8, 30, 60])
            const expected = reference(bytes, policy, maxLine, dotStuffed)
            const actual = decodePieces(random.split(bytes), policy, maxLine, dotStuffed)
            const context = `seed ${seed} round ${round} max ${maxLine} input ${JSON.stringify(text)}`
            expect(actual.done, context).to.equal(expected.done)
            expect(actual.end, context).to.equal(expected.end)
            expect(actual.fault, context).to.equal(expected.fault)
            if (expected.fault === null) expect(actual.output, context).to.equal(expected.output)
          }
        })
      }
    }
  })
})
