// The benchmark tooling: the load-generating client against a real SmtpServer (exact bytes,
// dot-stuffing, refusals, 421s, resets), a small runLoad with the integrity check, and the raw sink.

import { expect } from 'chai'
import net from 'node:net'
import { checkIntegrity, makeMessage, messageId, sha256, stripTrace } from '../../bench/messages.js'
import { SinkSession, startRawSink } from '../../bench/raw-sink.js'
import { dotStuff, ReplyParser, runLoad, runSession, type SessionOptions } from '../../bench/smtp-client.js'
import { SmtpError, SmtpServer, type SessionHandler, type SmtpServerOptions } from '../../lib/index.js'

const crlf = (...lines: string[]): Buffer => Buffer.from(lines.map((line) => `${line}\r\n`).join(''))

describe('bench: smtp-client', () => {
  let server: SmtpServer | null = null

  afterEach(async () => {
    await server?.close()
    server = null
  })

  async function start(handler: SessionHandler, options: SmtpServerOptions = {}): Promise<number> {
    server = new SmtpServer({ domain: 'mx.test', ...options }, handler)
    return (await server.listen(0, '127.0.0.1')).port
  }

  /** A server that keeps every message body it accepts. */
  async function collecting(): Promise<{ port: number; bodies: Buffer[] }> {
    const bodies: Buffer[] = []
    const port = await start((smtp) => smtp.on('message', ({ body }) => void (body && bodies.push(body))))
    return { port, bodies }
  }

  const session = (port: number, options: Partial<SessionOptions> & { messages: Buffer[] }) =>
    runSession({ host: '127.0.0.1', port, ...options })

  describe('dotStuff', () => {
    it('doubles a dot at the start of every line, the first line included', () => {
      const body = crlf('.first', 'middle', '..two', '.', 'end.', '.last')
      expect(dotStuff(body).toString()).to.equal(crlf('..first', 'middle', '...two', '..', 'end.', '..last').toString())
    })

    it('returns the body itself when no line starts with a dot', () => {
      const body = crlf('no dots', 'here. or. there')
      expect(dotStuff(body)).to.equal(body)
    })
  })

  describe('ReplyParser', () => {
    it('joins multi-line replies by code, across any chunking', () => {
      const wire = Buffer.from('250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n354 Go on\r\n')
      for (let cut = 0; cut <= wire.length; cut++) {
        const parser = new ReplyParser()
        const replies = [...parser.push(wire.subarray(0, cut)), ...parser.push(wire.subarray(cut))]
        expect(replies).to.deep.equal([
          { code: 250, lines: ['mx.test', 'PIPELINING', 'SIZE 100'] },
          { code: 354, lines: ['Go on'] },
        ])
      }
    })

    it('rejects what is not a reply', () => {
      expect(() => new ReplyParser().push(Buffer.from('hello\r\n'))).to.throw(/not an SMTP reply/)
      expect(() => new ReplyParser().push(Buffer.from('250-a\r\n251 b\r\n'))).to.throw(/code changed/)
    })
  })

  describe('runSession', () => {
    const messages = [
      crlf('Subject: one', '', 'hello'),
      crlf('Subject: dots', '', '.leading dot', '..two dots', '.', 'after a lone dot'),
      crlf('.Subject-less message starting with a dot'),
      makeMessage(7, 10_000),
    ]

    it('delivers the exact bytes of pipelined DATA messages, dot lines included', async () => {
      const { port, bodies } = await collecting()
      const { results, error, extensions } = await session(port, { messages, hash: true })
      expect(error).to.equal(null)
      expect(extensions.has('PIPELINING')).to.equal(true)
      expect(results.map((r) => [r.ok, r.code])).to.deep.equal(messages.map(() => [true, 250]))
      expect(results.map((r) => r.sha256)).to.deep.equal(messages.map(sha256))
      expect(bodies.map((b) => b.toString('latin1'))).to.deep.equal(messages.map((m) => m.toString('latin1')))
    })

    it('delivers the exact bytes with BDAT, in one chunk or several', async () => {
      const { port, bodies } = await collecting()
      const one = await session(port, { messages, bdat: true })
      const several = await session(port, { messages, bdat: true, bdatChunkSize: 1000 })
      expect([...one.results, ...several.results].every((r) => r.ok && r.code === 250)).to.equal(true)
      const text = (buffers: Buffer[]): string[] => buffers.map((b) => b.toString('latin1'))
      expect(text(bodies)).to.deep.equal(text([...messages, ...messages]))
    })

    it('also works one command per round trip', async () => {
      const { port, bodies } = await collecting()
      const data = await session(port, { messages, pipelining: false })
      const bdat = await session(port, { messages, pipelining: false, bdat: true })
      expect([...data.results, ...bdat.results].every((r) => r.ok)).to.equal(true)
      expect(bodies).to.have.length(messages.length * 2)
      expect(bodies.map((b) => sha256(b))).to.deep.equal([...messages, ...messages].map(sha256))
    })

    it('ends a DATA body that lacks a final CRLF with one', async () => {
      const { port, bodies } = await collecting()
      const { results } = await session(port, { messages: [Buffer.from('Subject: x\r\n\r\nno newline')] })
      expect(results[0]?.ok).to.equal(true)
      expect(bodies.map(String)).to.deep.equal(['Subject: x\r\n\r\nno newline\r\n'])
    })

    for (const bdat of [false, true]) {
      it(`reports refused recipients with their code, then goes on (${bdat ? 'BDAT' : 'DATA'})`, async () => {
        const bodies: Buffer[] = []
        const port = await start((smtp) => {
          smtp.on('recipient', ({ address }) => address.localPart !== 'nobody')
          smtp.on('message', ({ body }) => void (body && bodies.push(body)))
        })
        const refused = await session(port, {
          messages: [crlf('Subject: a'), crlf('Subject: b')],
          envelope: { from: 'a@client.test', to: ['nobody@mx.test'] },
          bdat,
        })
        // The second transaction starts with RSET: no 503 for a MAIL inside an open transaction.
        expect(refused.results.map((r) => [r.ok, r.code])).to.deep.equal([
          [false, 550],
          [false, 550],
        ])
        expect(refused.error).to.equal(null)
        const partly = await session(port, {
          messages: [crlf('Subject: c')],
          envelope: { from: 'a@client.test', to: ['nobody@mx.test', 'bob@mx.test'] },
          bdat,
        })
        expect(partly.results.map((r) => [r.ok, r.code])).to.deep.equal([[true, 250]])
        expect(bodies.map(String)).to.deep.equal(['Subject: c\r\n'])
      })
    }

    it('reports a refused message with its code, and the next one is accepted', async () => {
      const port = await start((smtp) => {
        smtp.on('message', ({ body }) => {
          if (body?.includes('spam')) throw new SmtpError(554, 'No spam', '5.7.1')
        })
      })
      const { results } = await session(port, { messages: [crlf('Subject: spam'), crlf('Subject: ham')] })
      expect(results.map((r) => [r.ok, r.code, r.reply])).to.deep.equal([
        [false, 554, '554 5.7.1 No spam'],
        [true, 250, '250 2.0.0 Message accepted'],
      ])
    })

    it('reports a 421 greeting as failures, without throwing', async () => {
      const port = await start((smtp) => {
        smtp.on('connect', () => {
          throw new SmtpError(421, 'Too busy', '4.3.2')
        })
      })
      const { results, error } = await session(port, { messages: [crlf('a'), crlf('b')] })
      expect(error).to.match(/^421 /)
      expect(results.map((r) => [r.ok, r.code])).to.deep.equal([
        [false, 421],
        [false, 421],
      ])
    })

    it('fails the message in flight and the rest when a 421 comes mid-session', async () => {
      let transactions = 0
      const port = await start((smtp) => {
        smtp.on('sender', () => {
          if (++transactions === 2) throw new SmtpError(421, 'Shutting down', '4.3.2')
        })
      })
      const { results, error } = await session(port, { messages: [crlf('a'), crlf('b'), crlf('c')] })
      expect(error).to.match(/^421 /)
      expect(results.map((r) => [r.ok, r.code])).to.deep.equal([
        [true, 250],
        [false, 421],
        [false, 421],
      ])
    })

    it('reports a connection reset as failures, without throwing', async () => {
      // A server that greets, answers EHLO, then resets the connection at the first MAIL.
      const raw = net.createServer((socket) => {
        socket.on('error', () => undefined)
        socket.write('220 reset.test\r\n')
        socket.on('data', (chunk: Buffer) => {
          if (chunk.includes('MAIL')) socket.resetAndDestroy()
          else socket.write('250 reset.test\r\n')
        })
      })
      await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
      const address = raw.address()
      const port = typeof address === 'object' && address ? address.port : 0
      try {
        const { results, error } = await session(port, { messages: [crlf('a'), crlf('b')] })
        expect(error).to.be.a('string')
        expect(results.map((r) => [r.ok, r.code])).to.deep.equal([
          [false, 0],
          [false, 0],
        ])
      } finally {
        await new Promise((resolve) => raw.close(resolve))
      }
    })

    it('reports a refused connection as failures, without throwing', async () => {
      const port = await start(() => undefined)
      await server?.close()
      server = null
      const { results, error } = await session(port, { messages: [crlf('a')] })
      expect(error).to.match(/ECONNREFUSED/)
      expect(results.map((r) => r.ok)).to.deep.equal([false])
    })
  })

  describe('runLoad', () => {
    it('runs concurrent sessions, and every acknowledged message is stored intact', async () => {
      const { port, bodies } = await collecting()
      const sent = Array.from({ length: 15 }, (_, id) => makeMessage(id, 2000 + id * 100))
      const message = (i: number): Buffer => sent[i] ?? Buffer.alloc(0)
      const load = await runLoad({ host: '127.0.0.1', port, sessions: 5, messagesPerSession: 3, makeMessage: message })
      expect([load.messages, load.accepted, load.failed]).to.deep.equal([15, 15, 0])
      expect(load.codes.get(250)).to.equal(15)
      expect(load.p50Ms).to.be.at.most(load.p99Ms)
      const report = checkIntegrity(
        sent.map((body, id) => ({ sha256: sha256(body), acknowledged: load.results[id]?.code === 250 })),
        bodies,
      )
      expect(report).to.include({ ok: true, acknowledged: 15, stored: 15, intact: 15 })
    })

    it('counts sessions that fail as failures', async () => {
      const port = await start((smtp) => {
        smtp.on('connect', () => {
          throw new SmtpError(421, 'Go away', '4.7.0')
        })
      })
      const message = (i: number): Buffer => crlf(`m${i}`)
      const load = await runLoad({ host: '127.0.0.1', port, sessions: 3, messagesPerSession: 2, makeMessage: message })
      expect([load.accepted, load.failed, load.codes.get(421)]).to.deep.equal([0, 6, 6])
      expect([...load.errors.values()]).to.deep.equal([3])
    })
  })

  describe('the integrity check', () => {
    const [first, second, third] = [0, 1, 2].map((id) => makeMessage(id, 500)) as [Buffer, Buffer, Buffer]
    const sent = [first, second, third]
    const known = (acknowledged: boolean[]) =>
      sent.map((body, id) => ({ sha256: sha256(body), acknowledged: acknowledged[id] ?? false }))
    const trace = Buffer.from('Return-Path: <a@b>\r\nReceived: from x\r\n\tby y; now\r\n')
    const traced = (body: Buffer): Buffer => Buffer.concat([trace, body])

    it('strips trace headers and finds the id', () => {
      expect(stripTrace(traced(second))).to.deep.equal(second)
      expect(messageId(second)).to.equal(1)
    })

    it('finds missing, corrupt, unacknowledged and duplicate messages', () => {
      const corrupt = Buffer.from(second)
      corrupt.writeUInt8((corrupt.at(-3) ?? 0) ^ 1, corrupt.length - 3)
      const report = checkIntegrity(known([true, true, false]), [traced(first), corrupt, third, third])
      expect(report).to.include({ ok: false, acknowledged: 2, stored: 4, intact: 3, missing: 0, corrupt: 1 })
      expect(report).to.include({ unacknowledged: 2, duplicates: 1, unidentified: 0 })
      expect(checkIntegrity(known([true, true, true]), [first])).to.include({ ok: false, missing: 2 })
      const stranger = Buffer.from('From: nobody\r\n\r\n')
      expect(checkIntegrity(known([true, true, true]), [stranger])).to.include({ ok: false, unidentified: 1 })
    })

    it('makes unique messages of exactly the size asked, CRLF lines no longer than 78 octets', () => {
      for (const size of [300, 301, 302, 4096, 100_003]) {
        const message = makeMessage(size, size)
        expect(message.length).to.equal(size)
        const lines = message.toString('latin1').split('\r\n')
        expect(lines.pop()).to.equal('')
        expect(lines.every((line) => line.length <= 76 && !line.includes('\r') && !line.includes('\n'))).to.equal(true)
      }
      expect(sha256(makeMessage(1, 4096))).to.not.equal(sha256(makeMessage(2, 4096)))
    })
  })
})

describe('bench: raw sink', () => {
  /** Feeds `pieces` to a sink session; returns the replies (parsed, so multi-line ones count once). */
  function feed(pieces: readonly Buffer[]): Array<{ code: number }> {
    const sink = new SinkSession()
    const parser = new ReplyParser()
    return pieces.flatMap((piece) => parser.push(Buffer.from(sink.feed(piece), 'latin1')))
  }

  it('answers a pipelined transaction with one reply per command, then 250 after the data', () => {
    const wire = Buffer.concat([
      crlf('EHLO c.test', 'MAIL FROM:<a@c.test>', 'RCPT TO:<b@s.test>', 'RCPT TO:<c@s.test>', 'DATA'),
      crlf('Subject: x', '', '.. a stuffed line', 'body', '.'),
      crlf('MAIL FROM:<a@c.test>', 'RCPT TO:<b@s.test>', 'BDAT 12 LAST'),
      Buffer.from('\r\n.\r\n\r\n.\r\n..'),
      crlf('QUIT'),
    ])
    const codes = [250, 250, 250, 250, 354, 250, 250, 250, 250, 221]
    expect(feed([wire]).map((r) => r.code)).to.deep.equal(codes)
    // However the bytes are cut, the sink stays in step.
    for (let cut = 1; cut < wire.length; cut++) {
      expect(feed([wire.subarray(0, cut), wire.subarray(cut)]).map((r) => r.code)).to.deep.equal(codes)
    }
    expect(feed([...wire].map((octet) => Buffer.from([octet]))).map((r) => r.code)).to.deep.equal(codes)
  })

  it('takes an empty DATA message and BDAT 0', () => {
    expect(feed([crlf('DATA', '.', 'BDAT 0 LAST', 'NOOP')]).map((r) => r.code)).to.deep.equal([354, 250, 250, 250])
  })

  it('counts the messages it took: a DATA end or a BDAT LAST chunk, not the chunks before it', () => {
    const sink = new SinkSession()
    sink.feed(crlf('DATA', 'x', '.', 'BDAT 3', 'abcBDAT 0 LAST', 'BDAT 2 last'))
    expect(sink.messages).to.equal(2)
    sink.feed(Buffer.from('xy'))
    expect(sink.messages).to.equal(3)
  })

  it('serves the client over TCP, pipelined and with BDAT', async () => {
    const sink = await startRawSink()
    try {
      const messages = [makeMessage(1, 5000), makeMessage(2, 70_000)]
      for (const bdat of [false, true]) {
        const { results, error } = await runSession({ host: '127.0.0.1', port: sink.port, messages, bdat })
        expect(error).to.equal(null)
        expect(results.map((r) => [r.ok, r.code])).to.deep.equal([
          [true, 250],
          [true, 250],
        ])
      }
      expect(sink.messages()).to.equal(4)
    } finally {
      await sink.close()
    }
  })
})
