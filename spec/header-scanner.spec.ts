import { expect } from 'chai'
import { HeaderScanner } from '../lib/header-scanner.js'

interface Scanned {
  headers: string
  done: boolean
  truncated: boolean
  /** The index of the piece whose `take` returned true, or -1. */
  completedBy: number
}

function scan(pieces: readonly string[], max = 1000): Scanned {
  const scanner = new HeaderScanner(max)
  let completedBy = -1
  pieces.forEach((piece, i) => {
    if (scanner.take(Buffer.from(piece, 'latin1'))) {
      expect(completedBy, 'take returned true twice').to.equal(-1)
      completedBy = i
    }
  })
  const headers = scanner.headers().toString('latin1')
  return { headers, done: scanner.done, truncated: scanner.truncated, completedBy }
}

/** A finished scan: the header octets, whether they were cut, and which piece completed them. */
function found(headers: string, truncated: boolean, completedBy: number): Scanned {
  return { headers, done: true, truncated, completedBy }
}

/** The text cut at the given offsets. */
function cut(text: string, ...at: number[]): string[] {
  const points = [0, ...at, text.length]
  return points.slice(1).map((end, i) => text.slice(points[i], end))
}

const HEADER = 'Subject: a\r\nFrom: b\r\n\r\n'
const MESSAGE = `${HEADER}body\r\n\r\nmore\r\n`

describe('HeaderScanner', () => {
  describe('finding the blank line', () => {
    it('finds it inside one piece and keeps nothing after it', () => {
      expect(scan([MESSAGE])).to.deep.equal(found(HEADER, false, 0))
    })

    it('finds it when it ends a piece', () => {
      expect(scan([HEADER, 'body\r\n'])).to.deep.equal(found(HEADER, false, 0))
    })

    it('finds it across two pieces at every split offset', () => {
      for (let k = 1; k < MESSAGE.length; k++) {
        const completedBy = k < HEADER.length ? 1 : 0
        expect(scan(cut(MESSAGE, k)), `split at ${k}`).to.deep.equal(found(HEADER, false, completedBy))
      }
    })

    it('finds it across three pieces at every pair of offsets', () => {
      for (let j = 2; j < MESSAGE.length; j++) {
        for (let k = 1; k < j; k++) {
          const completedBy = k >= HEADER.length ? 0 : j >= HEADER.length ? 1 : 2
          expect(scan(cut(MESSAGE, k, j)), `split at ${k}, ${j}`).to.deep.equal(found(HEADER, false, completedBy))
        }
      }
    })

    it('finds it when the message arrives one octet at a time', () => {
      expect(scan([...MESSAGE])).to.deep.equal(found(HEADER, false, HEADER.length - 1))
    })

    it('does not take two bare LFs for a blank line', () => {
      const open: Scanned = { headers: 'a: b\n\nbody', done: false, truncated: false, completedBy: -1 }
      expect(scan(['a: b\n\nbody'])).to.deep.equal(open)
    })
  })

  describe('a message that starts with an empty line', () => {
    it('has an empty header block of one CRLF', () => {
      expect(scan(['\r\nbody\r\n'])).to.deep.equal(found('\r\n', false, 0))
    })

    it('has the same header block at every split offset', () => {
      const message = '\r\nbody\r\n\r\n'
      for (let k = 1; k < message.length; k++) {
        const completedBy = k < 2 ? 1 : 0
        expect(scan(cut(message, k)), `split at ${k}`).to.deep.equal(found('\r\n', false, completedBy))
      }
    })
  })

  describe('finish()', () => {
    it('ends a header block that had no blank line', () => {
      const scanner = new HeaderScanner(1000)
      expect(scanner.take(Buffer.from('Subject: a\r\n'))).to.equal(false)
      expect(scanner.done).to.equal(false)
      expect(scanner.finish()).to.equal(true)
      expect(scanner.done).to.equal(true)
      expect(scanner.truncated).to.equal(false)
      expect(scanner.headers().toString()).to.equal('Subject: a\r\n')
    })

    it('does nothing once the block is complete', () => {
      const scanner = new HeaderScanner(1000)
      scanner.take(Buffer.from(MESSAGE))
      expect(scanner.finish()).to.equal(false)
      expect(scanner.finish()).to.equal(false)
      expect(scanner.headers().toString()).to.equal(HEADER)
    })

    it('gives an empty block for an empty message', () => {
      const scanner = new HeaderScanner(1000)
      expect(scanner.finish()).to.equal(true)
      expect(scanner.headers()).to.deep.equal(Buffer.alloc(0))
    })
  })

  describe('the size limit', () => {
    it('keeps a block of exactly the limit whole', () => {
      expect(scan([MESSAGE], HEADER.length)).to.deep.equal(found(HEADER, false, 0))
    })

    it('cuts a block one octet over the limit to exactly the limit', () => {
      const max = HEADER.length - 1
      expect(scan([MESSAGE], max)).to.deep.equal(found(HEADER.slice(0, max), true, 0))
    })

    it('cuts a block without a blank line at the limit', () => {
      const long = `X-Long: ${'x'.repeat(100)}\r\n`
      expect(scan([long], 20)).to.deep.equal(found(long.slice(0, 20), true, 0))
    })

    it('cuts at exactly the limit however the input is split', () => {
      const max = 15
      for (let k = 1; k < MESSAGE.length; k++) {
        const completedBy = k < max + 1 ? 1 : 0
        const expected = found(HEADER.slice(0, max), true, completedBy)
        expect(scan(cut(MESSAGE, k), max), `split at ${k}`).to.deep.equal(expected)
      }
    })

    it('cuts when pieces add up past the limit', () => {
      const pieces = ['abcd', 'efgh', 'ijkl', 'mnop']
      expect(scan(pieces, 10)).to.deep.equal(found('abcdefghij', true, 2))
    })

    it('keeps a block that fills the limit with no blank line until finish()', () => {
      const scanner = new HeaderScanner(5)
      expect(scanner.take(Buffer.from('abcde'))).to.equal(false)
      expect(scanner.finish()).to.equal(true)
      expect(scanner.truncated).to.equal(false)
      expect(scanner.headers().toString()).to.equal('abcde')
    })
  })

  describe('pieces it ignores', () => {
    it('ignores pieces after the block is complete', () => {
      const scanner = new HeaderScanner(1000)
      expect(scanner.take(Buffer.from(HEADER))).to.equal(true)
      expect(scanner.take(Buffer.from('Late: header\r\n\r\n'))).to.equal(false)
      expect(scanner.headers().toString()).to.equal(HEADER)
    })

    it('ignores pieces after a cut and after finish()', () => {
      const cutScanner = new HeaderScanner(4)
      expect(cutScanner.take(Buffer.from('abcdef'))).to.equal(true)
      expect(cutScanner.take(Buffer.from('\r\n\r\n'))).to.equal(false)
      expect(cutScanner.headers().toString()).to.equal('abcd')
      const finished = new HeaderScanner(1000)
      finished.finish()
      expect(finished.take(Buffer.from(HEADER))).to.equal(false)
      expect(finished.headers()).to.deep.equal(Buffer.alloc(0))
    })

    it('ignores empty pieces, even between the halves of a blank line', () => {
      const empty = Buffer.alloc(0)
      const scanner = new HeaderScanner(1000)
      expect(scanner.take(empty)).to.equal(false)
      expect(scanner.take(Buffer.from('a: b\r\n'))).to.equal(false)
      expect(scanner.take(empty)).to.equal(false)
      expect(scanner.take(Buffer.from('\r'))).to.equal(false)
      expect(scanner.take(empty)).to.equal(false)
      expect(scanner.take(Buffer.from('\nbody'))).to.equal(true)
      expect(scanner.headers().toString()).to.equal('a: b\r\n\r\n')
    })

    it('still sees a leading empty line after an empty first piece', () => {
      expect(scan(['', '\r\nbody'])).to.deep.equal(found('\r\n', false, 1))
    })
  })
})
