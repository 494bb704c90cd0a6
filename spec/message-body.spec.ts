import { expect } from 'chai'
import { HeaderScanner } from '../lib/header-scanner.js'
import { MessageBody } from '../lib/message-body.js'
import { SmtpProtocol, type SmtpOptions } from '../lib/index.js'
import { Random, specSeed } from './helpers/random.js'
import { ReferenceDotDecoder } from './helpers/reference-dot-decoder.js'

/** An in-memory session past RCPT (and DATA unless `data` is false), its dataChunk batches in `chunks`. */
function dataSession(options: Partial<SmtpOptions> = {}, data = true): { smtp: SmtpProtocol; chunks: Buffer[] } {
  const chunks: Buffer[] = []
  const smtp = new SmtpProtocol({ domain: 'mx.test', collectBody: false, ...options })
  smtp.on('dataChunk', ({ chunk }) => void chunks.push(chunk))
  smtp.open({ write: () => true, end: () => undefined })
  smtp.feed(Buffer.from(`EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n${data ? 'DATA\r\n' : ''}`))
  return { smtp, chunks }
}

describe('MessageBody', () => {
  const plan = { decoder: { lineEndings: 'reject', maxTextLineLength: 0, dotStuffed: true }, streaming: false, collect: true, headers: null } as const

  it('counts the collected octets as they are added, and forgets them when stopped', () => {
    const body = new MessageBody(plan)
    body.add(Buffer.from('Subject: a\r\n'))
    body.add(Buffer.from('\r\nbody\r\n'))
    expect(body.collectedLength).to.equal(20)
    body.stop()
    expect(body.collectedLength).to.equal(0)
  })

  it('hands a small message that came in one read to dataChunk as a view of that read, not a copy', () => {
    const { smtp, chunks } = dataSession()
    const read = Buffer.from('Subject: a\r\n\r\n' + 'La de da\r\n'.repeat(400) + '.\r\n')
    smtp.feed(read)
    expect(chunks).to.have.length(1)
    const [chunk] = chunks as [Buffer]
    expect(chunk.buffer).to.equal(read.buffer)
    expect(chunk.byteOffset).to.equal(read.byteOffset)
    expect(chunk.equals(read.subarray(0, read.length - 3))).to.equal(true)
  })

  it('with the default chunkSize, hands each bulk read of a BDAT chunk to dataChunk as a view of it, also reads that came a little short; DATA the same octets', () => {
    // Node reads at most 64 KiB; over loopback a bulk read is often one segment, a few octets short.
    const sizes = [65_483, 65_536, 65_483, 65_483, 65_536, 40_000]
    for (const bdat of [true, false]) {
      const { smtp, chunks } = dataSession({ addReceivedHeader: false }, !bdat)
      const line = Buffer.from('Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n')
      const total = sizes.reduce((a, b) => a + b, 0)
      const body = Buffer.alloc(total)
      for (let at = 0; at < total; at += line.length) line.copy(body, at)
      // It ends in a CRLF that no CR comes just before.
      body.write('x\r\n', total - 3)
      const reads: Buffer[] = []
      let at = 0
      for (const size of sizes) {
        reads.push(Buffer.from(body.subarray(at, at + size)))
        at += size
      }
      if (bdat) smtp.feed(Buffer.from(`BDAT ${total} LAST\r\n`))
      for (const read of reads) smtp.feed(read)
      if (!bdat) smtp.feed(Buffer.from('.\r\n'))
      expect(Buffer.concat(chunks).equals(body), bdat ? 'BDAT' : 'DATA').to.equal(true)
      if (bdat) {
        // Each read went out alone, where it lies: nothing was copied to join it to the next.
        expect(chunks.map((c) => c.length)).to.deep.equal(sizes)
        chunks.forEach((chunk, i) => expect(chunk.buffer, `chunk ${i}`).to.equal(reads[i]?.buffer))
      }
    }
  })

  it('copies a message that came in several reads into one Buffer of exactly its octets', () => {
    const { smtp, chunks } = dataSession()
    const text = 'Subject: a\r\n\r\n' + 'La de da\r\n'.repeat(400)
    smtp.feed(Buffer.from(text.slice(0, 2000)))
    smtp.feed(Buffer.from(text.slice(2000) + '.\r\n'))
    expect(chunks).to.have.length(1)
    expect(chunks[0]?.toString()).to.equal(text)
  })

  it('keeps its own copy of appended octets for the header scanner when nothing else keeps them', () => {
    const body = new MessageBody({ ...plan, collect: false, headers: new HeaderScanner(1000) })
    const scratch = new Uint8Array(Buffer.from('..Subject: a\r\n\r\nbody'))
    body.append(scratch, 2, 14)
    body.append(scratch, 14, 14)
    scratch.fill(0x21)
    body.append(Buffer.from('\r\n'), 0, 2)
    expect(body.headersReady).to.equal(true)
    expect(body.headers?.headers().toString()).to.equal('Subject: a\r\n\r\n')
    expect(body.batchLength + body.collectedLength).to.equal(0)
  })

  it('gives each pipelined small message with dot lines an arena of its own size, not one as long as the rest of the read', () => {
    // A listener that keeps chunks keeps their arenas: sized by the rest of a 64 KiB read of
    // pipelined messages, 6-octet bodies held 32 KiB each.
    const { smtp, chunks } = dataSession({ addReceivedHeader: false }, false)
    const bodies = ['a\r\n..x\r\n', 'line one\r\n..dot\r\nline three\r\n'.repeat(40), `${'x'.repeat(70)}\r\n..${'y'.repeat(70)}\r\n`]
    const transaction = (body: string): string => `MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n${body}.\r\n`
    const read = Array.from({ length: 300 }, (_, i) => transaction(bodies[i % 3] ?? '')).join('')
    expect(read.length).to.be.above(64 * 1024)
    smtp.feed(Buffer.from(read.slice(read.indexOf('\r\n') + 2))) // the session is past MAIL already: skip one
    const expected = Array.from({ length: 300 }, (_, i) => (bodies[i % 3] ?? '').replaceAll('\r\n..', '\r\n.'))
    expect(chunks.map((chunk) => chunk.toString())).to.deep.equal(expected)
    for (const chunk of chunks) expect(chunk.buffer.byteLength, `${chunk.length} octets`).to.be.at.most(2 * chunk.length)
  })

  it('is what bufferedInput reports while a collected message is read', () => {
    const smtp = new SmtpProtocol({ domain: 'mx.test' })
    smtp.open({ write: () => true, end: () => undefined })
    smtp.feed(Buffer.from('EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'))
    smtp.feed(Buffer.from('Subject: a\r\n\r\n..body\r\n'))
    // Dot-unstuffed and collected: 21 octets held, nothing else.
    expect(smtp.bufferedInput).to.equal(21)
    smtp.feed(Buffer.from('.\r\n'))
    expect(smtp.bufferedInput).to.equal(0)
  })

  describe('dataChunk batches', () => {
    /**
     * The batch lengths the rule gives for pieces of these lengths: a front piece of at least
     * chunkSize alone; else whole pieces up to the one that reaches chunkSize, which is cut at
     * chunkSize only when at least chunkSize of it is left; the rest (under chunkSize) last.
     */
    function expectedBatches(pieces: readonly number[], chunkSize: number): number[] {
      const queue = [...pieces]
      const batches: number[] = []
      while (queue.length > 0) {
        const first = queue.shift() as number
        if (first >= chunkSize || queue.length === 0) {
          batches.push(first)
          continue
        }
        let length = first
        while (length < chunkSize && queue.length > 0) length += queue.shift() as number
        if (length - chunkSize >= chunkSize) {
          queue.unshift(length - chunkSize)
          length = chunkSize
        }
        batches.push(length)
      }
      // Everything pending at the end goes out as one last batch, however many pieces it has.
      let lastFull = batches.length - 1
      while (lastFull >= 0 && (batches[lastFull] as number) < chunkSize) lastFull--
      const tail = batches.splice(lastFull + 1)
      if (tail.length > 0) batches.push(tail.reduce((a, b) => a + b, 0))
      return batches
    }

    function body(streaming = true): MessageBody {
      return new MessageBody({ ...plan, streaming, collect: false })
    }

    it('sends a front piece of chunkSize or more alone, as the same memory', () => {
      const b = body()
      const long = Buffer.from('x'.repeat(120))
      b.add(long)
      b.add(Buffer.from('y'.repeat(30)))
      const batch = b.takeBatch(100)
      expect(batch.buffer).to.equal(long.buffer)
      expect(batch.length).to.equal(120)
      expect(b.batchLength).to.equal(30)
      expect(b.takeBatch(100).toString()).to.equal('y'.repeat(30))
      expect(b.batchLength).to.equal(0)
    })

    it('copies whole pieces up to chunkSize, and leaves the pieces after that for the next batch', () => {
      const b = body()
      for (const piece of ['a'.repeat(60), 'b'.repeat(30), 'c'.repeat(20), 'd'.repeat(50), 'e'.repeat(40), 'f'.repeat(10)]) b.add(Buffer.from(piece))
      // 60 + 30 + 20: the third crosses 100 and is taken whole (its rest, 10, could not go alone).
      expect(b.takeBatch(100).toString()).to.equal('a'.repeat(60) + 'b'.repeat(30) + 'c'.repeat(20))
      expect(b.batchLength).to.equal(100)
      expect(b.takeBatch(100).toString()).to.equal('d'.repeat(50) + 'e'.repeat(40) + 'f'.repeat(10))
      expect(b.batchLength).to.equal(0)
    })

    it('cuts the crossing piece at chunkSize when its rest could go out alone, and sends that rest as a view', () => {
      const b = body()
      const long = Buffer.from('b'.repeat(250))
      b.add(Buffer.from('a'.repeat(40)))
      b.add(long)
      const copied = b.takeBatch(100)
      expect(copied.toString()).to.equal('a'.repeat(40) + 'b'.repeat(60))
      const rest = b.takeBatch(100)
      expect(rest.length).to.equal(190)
      expect(rest.buffer).to.equal(long.buffer)
      expect(rest.byteOffset).to.equal(long.byteOffset + 60)
    })

    it('matches the rule under random piece lengths, and the batches joined are the pieces joined', () => {
      const seed = specSeed()
      const random = new Random(seed)
      for (let round = 0; round < 300; round++) {
        const chunkSize = 1 + random.int(200)
        const lengths = Array.from({ length: 1 + random.int(30) }, () => 1 + random.int(random.int(2) === 0 ? 50 : 500))
        const bytes = Buffer.from(Array.from({ length: lengths.reduce((a, b) => a + b, 0) }, () => random.int(256)))
        const b = body()
        let at = 0
        const batches: Buffer[] = []
        // As the reader does: add pieces, take batches while chunkSize is pending, flush at the end.
        for (const length of lengths) {
          b.add(bytes.subarray(at, at + length))
          at += length
          while (b.batchLength >= chunkSize) batches.push(b.takeBatch(chunkSize))
        }
        if (b.batchLength > 0) batches.push(b.takeBatch(chunkSize))
        const context = `seed ${seed} round ${round} chunkSize ${chunkSize} pieces ${lengths.join(',')}`
        expect(batches.map((x) => x.length), context).to.deep.equal(expectedBatches(lengths, chunkSize))
        expect(Buffer.concat(batches).equals(bytes), context).to.equal(true)
        batches.slice(0, -1).forEach((x) => expect(x.length, context).to.be.at.least(chunkSize))
      }
    })

    it('in a session, under random reads of DATA and of BDAT chunks: the rule per read, the exact message octets', () => {
      const seed = specSeed()
      const random = new Random(seed)
      for (let round = 0; round < 60; round++) {
        const chunkSize = 16 + random.int(400)
        const bdat = random.int(2) === 0
        // No dot lines: each read's octets are one piece (the last without the end marker).
        const message = Buffer.from(Array.from({ length: 1 + random.int(60) }, (_, i) => `line ${i} ${'z'.repeat(random.int(120))}\r\n`).join(''))
        const { smtp, chunks } = dataSession({ chunkSize, addReceivedHeader: false }, !bdat)
        const reads = random.split(message, 20)
        const pieces = reads.map((r) => r.length)
        if (bdat) {
          // One BDAT per read: the command line in a read of its own, then the chunk.
          reads.forEach((read, i) => {
            smtp.feed(Buffer.from(`BDAT ${read.length}${i === reads.length - 1 ? ' LAST' : ''}\r\n`))
            smtp.feed(read)
          })
        } else {
          for (const read of reads) smtp.feed(read)
          smtp.feed(Buffer.from('.\r\n'))
        }
        const context = `seed ${seed} round ${round} ${bdat ? 'BDAT' : 'DATA'} chunkSize ${chunkSize} reads ${pieces.join(',')}`
        expect(chunks.map((c) => c.length), context).to.deep.equal(expectedBatches(pieces, chunkSize))
        expect(Buffer.concat(chunks).equals(message), context).to.equal(true)
      }
    })

    it('with dot lines unstuffed in the module: batches of at least chunkSize but the last, never changed once given, the exact message in chunks, body and headers', () => {
      const seed = specSeed()
      const random = new Random(seed)
      for (let round = 0; round < 40; round++) {
        const chunkSize = random.pick([16, 100, 1000, 4096, 65536])
        const lineEndings = random.pick(['reject', 'normalize'] as const)
        const lines: string[] = ['Subject: x', `X-Round: ${round}`, '']
        const count = random.int(random.int(2) === 0 ? 60 : 3000)
        for (let n = 0; n < count; n++) {
          const kind = random.int(20)
          const text = 'w'.repeat(random.int(90))
          // Dot-stuffed lines (the client's '..' and '.x'), now and then a bare ending near one under normalize.
          lines.push(kind < 3 ? `..${text}` : kind < 5 ? `.${text}x` : kind === 5 && lineEndings === 'normalize' ? `${text}\n.${text}` : text)
        }
        const input = Buffer.from(`${lines.join('\r\n')}\r\n.\r\n`, 'latin1')
        const reference = new ReferenceDotDecoder({ lineEndings, maxTextLineLength: 0, dotStuffed: true })
        const expectedPieces: Buffer[] = []
        reference.decode(input, 0, input.length, expectedPieces)
        const expected = Buffer.concat(expectedPieces)
        const collect = random.int(2) === 0
        const chunks: Buffer[] = []
        const snapshots: Buffer[] = []
        let body: Buffer | null = null
        let headers: Buffer | null = null
        const smtp = new SmtpProtocol({ domain: 'mx.test', collectBody: collect, chunkSize, lineEndings, addReceivedHeader: random.int(2) === 0 })
        smtp.on('dataChunk', ({ chunk }) => {
          chunks.push(chunk)
          snapshots.push(Buffer.from(chunk))
        })
        smtp.on('headers', ({ headers: h }) => void (headers = h))
        smtp.on('message', ({ body: b }) => void (body = b))
        smtp.open({ write: () => true, end: () => undefined })
        smtp.feed(Buffer.from('EHLO c.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n'))
        for (const read of random.split(input, 30)) smtp.feed(read)
        const context = `seed ${seed} round ${round} chunkSize ${chunkSize} ${lineEndings} collect ${collect}`
        const all = Buffer.concat(chunks)
        // A Received header may come first.
        const received = all.length - expected.length
        expect(received, context).to.be.at.least(0)
        expect(all.subarray(received).equals(expected), context).to.equal(true)
        chunks.slice(0, -1).forEach((c) => expect(c.length, context).to.be.at.least(chunkSize))
        chunks.forEach((c, i) => expect(c.equals(snapshots[i] as Buffer), `${context} batch ${i} changed`).to.equal(true))
        if (collect) expect((body as Buffer | null)?.equals(all), context).to.equal(true)
        const blank = all.indexOf('\r\n\r\n')
        expect((headers as Buffer | null)?.toString('latin1'), context).to.equal(all.subarray(0, blank + 4).toString('latin1'))
      }
    })
  })
})
