import { expect } from 'chai'
import { bareCommand, refusalOf } from '../lib/command-line.js'
import { LineReader } from '../lib/line-reader.js'
import { parseCommand } from '../lib/parser.js'
import { Random, specSeed } from './helpers/random.js'

/** A reader that has just framed `octets` + CRLF. */
function framed(octets: Buffer): LineReader {
  const lines = new LineReader('reject')
  lines.read(Buffer.concat([octets, Buffer.from('\r\n')]), 0, 512)
  return lines
}

describe('bareCommand', () => {
  for (const verb of ['DATA', 'RSET', 'QUIT', 'NOOP']) {
    it(`reads ${verb} from its octets as parseCommand reads the line`, () => {
      const command = bareCommand(framed(Buffer.from(verb)))
      expect(command).to.not.equal(null)
      expect(command).to.deep.equal(parseCommand(verb))
    })
  }

  it('leaves every other line to refusalOf and parseCommand', () => {
    for (const line of ['data', 'Quit', 'DATQ', 'RSE', 'NOOPS', 'DATA ', 'NOOP x', 'QUIT\0', 'STARTTLS', 'HELP', 'EHLO', '']) {
      expect(bareCommand(framed(Buffer.from(line, 'latin1'))), JSON.stringify(line)).to.equal(null)
    }
  })

  it('reads nothing from a framing fault, even one ending four fitting letters', () => {
    const lines = new LineReader('reject')
    lines.read(Buffer.from('DATA\n'), 0, 512)
    expect(lines.fault).to.equal('bareLineFeed')
    expect(bareCommand(lines)).to.equal(null)
  })

  it('agrees with refusalOf and parseCommand on random lines of four octets or so', () => {
    const seed = specSeed()
    const random = new Random(seed)
    // The letters of the bare verbs, their lower case, and octets that are not letters or not UTF-8.
    const octets = [...Buffer.from('DATRSEQUINOPdatrseq '), 0x00, 0x09, 0x7f, 0xc3, 0xa9, 0xff]
    // One round in eight starts from a bare verb with one octet or none changed: purely random
    // octets hit a verb about 4 times in 20 000 rounds, so about 1 seed in 100 hit none at all.
    const verbs = ['DATA', 'RSET', 'QUIT', 'NOOP']
    let read = 0
    for (let round = 0; round < 20000; round++) {
      const length = random.int(4) === 0 ? random.int(7) : 4
      const line =
        random.int(8) === 0
          ? Buffer.from(random.pick(verbs), 'latin1')
          : Buffer.from(Array.from({ length }, () => (random.int(3) === 0 ? random.pick(octets) : random.pick([...Buffer.from('DATARSETQUITNOOP')]))))
      if (line.length === 4 && random.int(2) === 0) line[random.int(4)] = random.pick(octets)
      const lines = framed(line)
      const command = bareCommand(lines)
      const label = `seed ${seed}: ${JSON.stringify(line.toString('latin1'))}`
      if (command === null) continue
      read++
      expect(refusalOf(lines, 512), label).to.equal(null)
      expect(command, label).to.deep.equal(parseCommand(lines.text()))
      expect(['DATA', 'RSET', 'QUIT', 'NOOP'], label).to.include(line.toString('latin1'))
    }
    expect(read, `seed ${seed}`).to.be.greaterThan(0)
  })
})

describe('LineReader.is', () => {
  it('is true only for the exact octets of the last line', () => {
    const lines = framed(Buffer.from('DATA'))
    expect(lines.is(Buffer.from('DATA'))).to.equal(true)
    expect(lines.is(Buffer.from('DAT'))).to.equal(false)
    expect(lines.is(Buffer.from('DATAX'))).to.equal(false)
    expect(lines.is(Buffer.from('data'))).to.equal(false)
    expect(new LineReader('reject').is(Buffer.from(''))).to.equal(false)
  })

  it('compares a line assembled from pieces', () => {
    const lines = new LineReader('reject')
    expect(lines.read(Buffer.from('xxRS'), 2, 512)).to.equal(4)
    lines.read(Buffer.from('ET\r\n'), 0, 512)
    expect(lines.is(Buffer.from('RSET'))).to.equal(true)
  })
})
