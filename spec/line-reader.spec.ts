import { isUtf8 } from 'node:buffer'
import { expect } from 'chai'
import type { LineEndingPolicy } from '../lib/dot-decoder.js'
import { LineReader, type LineFault } from '../lib/line-reader.js'
import { Random, specSeed } from './helpers/random.js'

type Event = { line: string } | { fault: LineFault }

/** Feeds pieces as a socket would, calling read() until each piece is used up. */
function feed(reader: LineReader, pieces: readonly Buffer[], limit: number): Event[] {
  const events: Event[] = []
  for (const piece of pieces) {
    let pos = 0
    while (pos < piece.length) {
      pos = reader.read(piece, pos, limit)
      if (reader.line !== null) events.push({ line: reader.line.toString('latin1') })
      else if (reader.fault !== null) events.push({ fault: reader.fault })
    }
  }
  return events
}

function lines(text: string, policy: LineEndingPolicy = 'reject', limit = 512): Event[] {
  return feed(new LineReader(policy), [Buffer.from(text, 'latin1')], limit)
}

/** The input cut at `k`. */
function split(text: string, k: number): Buffer[] {
  return [Buffer.from(text.slice(0, k), 'latin1'), Buffer.from(text.slice(k), 'latin1')]
}

/** The octets of partial line held: peeks at the private count, to show nothing is kept past the limit. */
function held(reader: LineReader): number {
  return reader['partLength']
}

describe('LineReader', () => {
  describe('reading lines', () => {
    it('returns one line without its CRLF and the position after it', () => {
      const reader = new LineReader('reject')
      expect(reader.read(Buffer.from('NOOP\r\n'), 0, 512)).to.equal(6)
      expect(reader.line?.toString()).to.equal('NOOP')
      expect(reader.fault).to.equal(null)
      expect(reader.hasPartial).to.equal(false)
    })

    it('reads several lines from one input, one per call', () => {
      const reader = new LineReader('reject')
      const input = Buffer.from('A\r\nBB\r\n\r\nC')
      const seen: Array<[pos: number, line: string | null]> = []
      let pos = 0
      while (pos < input.length) {
        pos = reader.read(input, pos, 512)
        seen.push([pos, reader.line?.toString() ?? null])
      }
      expect(seen).to.deep.equal([
        [3, 'A'],
        [7, 'BB'],
        [9, ''],
        [10, null],
      ])
      expect(reader.hasPartial).to.equal(true)
      expect(reader.fault).to.equal(null)
    })

    it('starts at the given position', () => {
      const reader = new LineReader('reject')
      expect(reader.read(Buffer.from('A\r\nB\r\n'), 3, 512)).to.equal(6)
      expect(reader.line?.toString()).to.equal('B')
    })

    it('returns no line and no fault when the input runs out', () => {
      const reader = new LineReader('reject')
      expect(reader.read(Buffer.from('MAIL FR'), 0, 512)).to.equal(7)
      expect(reader.line).to.equal(null)
      expect(reader.fault).to.equal(null)
      expect(reader.hasPartial).to.equal(true)
      expect(reader.read(Buffer.alloc(0), 0, 512)).to.equal(0)
      expect(reader.line).to.equal(null)
    })

    it('joins a line that arrives in pieces', () => {
      const reader = new LineReader('reject')
      const events = feed(reader, ['MAIL ', 'FROM:', '<a@b>\r', '\nNOOP\r\n'].map((s) => Buffer.from(s)), 512)
      expect(events).to.deep.equal([{ line: 'MAIL FROM:<a@b>' }, { line: 'NOOP' }])
      expect(reader.hasPartial).to.equal(false)
    })

    it('gives the same lines for a split at every offset', () => {
      const input = 'EHLO a.test\r\nMAIL FROM:<a@b.test>\r\n\r\nRCPT TO:<c@d.test>\r\nQU'
      const expected = ['EHLO a.test', 'MAIL FROM:<a@b.test>', '', 'RCPT TO:<c@d.test>'].map((line) => ({ line }))
      for (let k = 0; k <= input.length; k++) {
        const reader = new LineReader('reject')
        expect(feed(reader, split(input, k), 512), `split at ${k}`).to.deep.equal(expected)
        expect(reader.hasPartial, `split at ${k}`).to.equal(true)
      }
    })

    it('passes a bare CR inside a line up to the parser', () => {
      expect(lines('A\rB\r\n')).to.deep.equal([{ line: 'A\rB' }])
    })

    it('clears the last line and fault on the next read', () => {
      const reader = new LineReader('reject')
      reader.read(Buffer.from('A\n'), 0, 512)
      expect(reader.fault).to.equal('bareLineFeed')
      reader.read(Buffer.from('B'), 0, 512)
      expect(reader.fault).to.equal(null)
      expect(reader.line).to.equal(null)
    })
  })

  describe('the length limit', () => {
    const limit = 10

    it('accepts a line of exactly the limit including CRLF', () => {
      const line = 'x'.repeat(limit - 2)
      expect(lines(`${line}\r\n`, 'reject', limit)).to.deep.equal([{ line }])
    })

    it("refuses a line one octet longer with 'tooLong' and reads the next", () => {
      const input = `${'x'.repeat(limit - 1)}\r\nNOOP\r\n`
      expect(lines(input, 'reject', limit)).to.deep.equal([{ fault: 'tooLong' }, { line: 'NOOP' }])
    })

    it('applies the limit the same at every split offset', () => {
      const fits = `${'a'.repeat(limit - 2)}\r\n`
      const long = `${'b'.repeat(limit - 1)}\r\n`
      const input = `${fits}${long}${fits}`
      const expected = [{ line: 'a'.repeat(limit - 2) }, { fault: 'tooLong' }, { line: 'a'.repeat(limit - 2) }]
      for (let k = 0; k <= input.length; k++) {
        const reader = new LineReader('reject')
        expect(feed(reader, split(input, k), limit), `split at ${k}`).to.deep.equal(expected)
        expect(reader.hasPartial, `split at ${k}`).to.equal(false)
      }
    })

    it('counts a bare-LF line without the CR it lacks', () => {
      const line = 'x'.repeat(limit - 1)
      expect(lines(`${line}\n`, 'normalize', limit)).to.deep.equal([{ line }])
      expect(lines(`${line}x\n`, 'normalize', limit)).to.deep.equal([{ fault: 'tooLong' }])
    })

    it('never holds more than the limit of a long line arriving in small pieces', () => {
      const reader = new LineReader('reject')
      const long = Buffer.from('y'.repeat(200))
      const events: Event[] = []
      for (let at = 0; at < long.length; at += 3) {
        events.push(...feed(reader, [long.subarray(at, at + 3)], limit))
        expect(held(reader), `after ${at + 3} octets`).to.be.at.most(limit)
        expect(reader.hasPartial, `after ${at + 3} octets`).to.equal(true)
      }
      expect(held(reader)).to.equal(0)
      events.push(...feed(reader, [Buffer.from('y\r'), Buffer.from('\nNOOP\r\n')], limit))
      expect(events).to.deep.equal([{ fault: 'tooLong' }, { line: 'NOOP' }])
      expect(reader.hasPartial).to.equal(false)
    })

    it('drops a partial that reaches past the limit in one piece', () => {
      const reader = new LineReader('reject')
      expect(feed(reader, [Buffer.from('z'.repeat(limit + 1))], limit)).to.deep.equal([])
      expect(reader.hasPartial).to.equal(true)
      expect(held(reader)).to.equal(0)
      expect(feed(reader, [Buffer.from('\r\nRSET\r\n')], limit)).to.deep.equal([{ fault: 'tooLong' }, { line: 'RSET' }])
    })

    it('holds a partial of exactly the limit, then refuses it when the LF comes', () => {
      const reader = new LineReader('reject')
      expect(feed(reader, [Buffer.from('z'.repeat(limit))], limit)).to.deep.equal([])
      expect(held(reader)).to.equal(limit)
      expect(feed(reader, [Buffer.from('\n')], limit)).to.deep.equal([{ fault: 'tooLong' }])
      expect(reader.hasPartial).to.equal(false)
    })
  })

  describe('bare LF', () => {
    it("refuses a line ending in a bare LF under 'reject' and reads the next", () => {
      const reader = new LineReader('reject')
      expect(reader.read(Buffer.from('NOOP\nRSET\r\n'), 0, 512)).to.equal(5)
      expect(reader.fault).to.equal('bareLineFeed')
      expect(reader.line).to.equal(null)
      expect(lines('NOOP\nRSET\r\n')).to.deep.equal([{ fault: 'bareLineFeed' }, { line: 'RSET' }])
      expect(lines('\n')).to.deep.equal([{ fault: 'bareLineFeed' }])
    })

    for (const policy of ['normalize', 'keep'] as const) {
      it(`accepts a bare LF as a line ending under '${policy}'`, () => {
        expect(lines('NOOP\nRSET\r\n\n', policy)).to.deep.equal([{ line: 'NOOP' }, { line: 'RSET' }, { line: '' }])
      })
    }

    it('accepts a CRLF split between pieces under reject', () => {
      const pieces = [Buffer.from('NOOP\r'), Buffer.from('\n')]
      expect(feed(new LineReader('reject'), pieces, 512)).to.deep.equal([{ line: 'NOOP' }])
    })
  })

  describe('reset()', () => {
    it('forgets a partial line', () => {
      const reader = new LineReader('reject')
      feed(reader, [Buffer.from('MAIL FR')], 512)
      reader.reset()
      expect(reader.hasPartial).to.equal(false)
      expect(feed(reader, [Buffer.from('NOOP\r\n')], 512)).to.deep.equal([{ line: 'NOOP' }])
    })

    it('forgets a line that was already too long', () => {
      const reader = new LineReader('reject')
      feed(reader, [Buffer.from('x'.repeat(100))], 16)
      expect(reader.hasPartial).to.equal(true)
      reader.reset()
      expect(reader.hasPartial).to.equal(false)
      expect(feed(reader, [Buffer.from('NOOP\r\n')], 16)).to.deep.equal([{ line: 'NOOP' }])
    })

    it('decodes each line as UTF-8 and says whether it is, as Buffer and isUtf8 would, whatever its octets', () => {
      const seed = specSeed()
      const random = new Random(seed)
      // ASCII, valid multi-octet characters, a literal U+FFFD, and octets that are no UTF-8.
      const parts = [
        ...['MAIL FROM:<a@b>', ' ', 'é', '€', '😀', '\uFFFD'].map((text) => Buffer.from(text)),
        ...[[0x80], [0xc3], [0xe2, 0x82], [0xff], [0xf0, 0x9f, 0x98], [0xc0, 0xaf], [0xed, 0xa0, 0x80]].map((octets) => Buffer.from(octets)),
      ]
      for (let round = 0; round < 2000; round++) {
        const octets: Buffer[] = []
        for (let i = random.int(6); i >= 0; i--) octets.push(random.pick(parts))
        const line = Buffer.concat(octets)
        const reader = new LineReader('reject')
        // Sometimes split, so the line is joined from pieces.
        const input = Buffer.concat([line, Buffer.from('\r\n')])
        const cut = random.int(input.length)
        for (const piece of cut === 0 ? [input] : [input.subarray(0, cut), input.subarray(cut)]) reader.read(piece, 0, 4096)
        const context = `seed ${seed} round ${round} ${line.toString('hex')}`
        expect(reader.hasLine, context).to.equal(true)
        expect(reader.lineLength, context).to.equal(line.length)
        expect(reader.text(), context).to.equal(line.toString('utf8'))
        expect(reader.isUtf8(), context).to.equal(isUtf8(line))
      }
    })

    it('clears the last line and fault', () => {
      const reader = new LineReader('reject')
      reader.read(Buffer.from('NOOP\r\n'), 0, 512)
      reader.reset()
      expect(reader.line).to.equal(null)
      reader.read(Buffer.from('NOOP\n'), 0, 512)
      reader.reset()
      expect(reader.fault).to.equal(null)
    })
  })
})
