import { expect } from 'chai'
import sinon from 'sinon'
import type { SmtpOptions } from '../../lib/options.js'
import type { TransactionInfo } from '../../lib/session-info.js'
import { recordEvents, startAt } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

/** `BDAT <n>[ LAST]` followed by exactly the chunk's bytes. */
function bdat(chunk: string | Buffer, last = false): Buffer {
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
  return Buffer.concat([Buffer.from(`BDAT ${bytes.length}${last ? ' LAST' : ''}\r\n`), bytes])
}

describe('SmtpProtocol', () => {
  describe('CHUNKING (RFC 3030)', () => {
    it('reads exact byte counts with no dot-unstuffing and no end marker', async () => {
      let body = ''
      let via: TransactionInfo['via'] = null
      const { client } = await startAt('rcpt', {}, (smtp) =>
        smtp.on('message', (e) => {
          body = e.body?.toString('latin1') ?? ''
          via = e.transaction.via
        }),
      )
      client.write(Buffer.concat([bdat('Subject: x\r\n\r\n.\r\n..'), bdat('\r\nQUIT\r\n', true), Buffer.from('NOOP\r\n')]))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 19 octets received', '250 2.0.0 Message accepted', '250 2.0.0 OK'])
      expect(body).to.equal('Subject: x\r\n\r\n.\r\n..\r\nQUIT\r\n')
      expect(via).to.equal('BDAT')
    })

    it('takes BDAT 0 LAST as the end of the message', async () => {
      const bodies: string[] = []
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', (e) => void bodies.push(String(e.body))))
      expect(await client.send('BDAT 0 LAST')).to.deep.equal(['250 2.0.0 Message accepted'])
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>')
      client.write(Buffer.concat([bdat('abc\r\n'), Buffer.from('BDAT 0 LAST\r\n')]))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 5 octets received', '250 2.0.0 Message accepted'])
      expect(bodies).to.deep.equal(['', 'abc\r\n'])
    })

    it('reads a chunk split across many reads, and a BDAT line in the same read as the previous chunk’s tail', async () => {
      let body = ''
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', (e) => void (body = String(e.body))))
      const input = Buffer.concat([bdat('0123456789\r\n'), bdat('abcdef\r\n', true)])
      for (const byte of input) client.write(Buffer.from([byte]))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 12 octets received', '250 2.0.0 Message accepted'])
      expect(body).to.equal('0123456789\r\nabcdef\r\n')
    })

    it('fires headers at BDAT 0 LAST when the header block was still open', async () => {
      const seen: string[] = []
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('headers', ({ headers }) => void seen.push(String(headers))))
      client.write(Buffer.concat([bdat('Subject: x'), Buffer.from('BDAT 0 LAST\r\n')]))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 10 octets received', '250 2.0.0 Message accepted'])
      expect(seen).to.deep.equal(['Subject: x'])
    })

    it('fires data once, and dataChunk batches that span chunks, then message', async () => {
      const chunks: string[] = []
      const { smtp, client } = await startAt('rcpt', { chunkSize: 6 }, (s) => s.on('dataChunk', (e) => void chunks.push(String(e.chunk))))
      const log = recordEvents(smtp, ['headers', 'dataChunk'])
      client.write(Buffer.concat([bdat('abc'), bdat('def'), bdat('gh', true)]))
      await client.settle()
      expect(chunks).to.deep.equal(['abcdef', 'gh'])
      expect(log).to.deep.equal(['data', 'message', 'transaction:delivered'])
    })

    describe('sequence rules', () => {
      it('refuses DATA after BDAT in one transaction with 503', async () => {
        const { client } = await startAt('rcpt')
        client.write(Buffer.concat([bdat('abc'), Buffer.from('DATA\r\n')]))
        expect(await client.settle()).to.deep.equal(['250 2.0.0 3 octets received', '503 5.5.1 DATA and BDAT cannot be mixed in one transaction'])
      })

      it('refuses BDAT after DATA in one transaction with 503, still reading its chunk', async () => {
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('data', () => false))
        expect(await client.send('DATA')).to.deep.equal(['554 5.7.1 Transaction rejected'])
        client.write(Buffer.concat([bdat('NOOP\r\n', true), Buffer.from('NOOP\r\n')]))
        expect(await client.settle()).to.deep.equal(['503 5.5.1 DATA and BDAT cannot be mixed in one transaction', '250 2.0.0 OK'])
      })

      it('refuses BDAT before MAIL or RCPT with 503, still reading its chunk', async () => {
        const { client } = await startAt('ehlo')
        client.write(Buffer.concat([bdat('RSET\r\n', true), Buffer.from('MAIL FROM:<a@b.test>\r\n'), bdat('RSET\r\n')]))
        expect(await client.settle()).to.deep.equal([
          '503 5.5.1 Need MAIL command first',
          '250 2.1.0 Sender OK',
          '503 5.5.1 Need RCPT command first',
        ])
      })

      it('refuses RCPT once a chunk arrived', async () => {
        const { client } = await startAt('rcpt')
        client.write(Buffer.concat([bdat('x'), Buffer.from('RCPT TO:<late@d.test>\r\n')]))
        expect(await client.settle()).to.deep.equal(['250 2.0.0 1 octets received', '503 5.5.1 Recipients cannot be added once the data has started'])
      })

      it('forgets the chunks on RSET', async () => {
        const message = sinon.spy()
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', message))
        client.write(Buffer.concat([bdat('abc'), Buffer.from('RSET\r\n'), bdat('def', true)]))
        expect(await client.settle()).to.deep.equal(['250 2.0.0 3 octets received', '250 2.0.0 Reset OK', '503 5.5.1 Need MAIL command first'])
        expect(message.called).to.equal(false)
      })

      it('refuses BDAT after plain HELO with 503', async () => {
        const { client } = await startAt('connected')
        client.write(Buffer.concat([Buffer.from(crlf('HELO c.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>')), bdat('xy', true)]))
        const replies = await client.settle()
        expect(replies[3]).to.equal('503 Send EHLO first, this command is an ESMTP extension')
      })

      it('answers 502 and still reads the chunk when CHUNKING is off', async () => {
        const { client } = await startAt('rcpt', { chunking: false })
        client.write(Buffer.concat([bdat('QUIT\r\n', true), Buffer.from('NOOP\r\n')]))
        expect(await client.settle()).to.deep.equal(['502 5.5.1 BDAT not available', '250 2.0.0 OK'])
      })

      it('closes the connection after a BDAT whose size cannot be read', async () => {
        const { client } = await startAt('rcpt')
        expect(await client.send('BDAT ten LAST', 'NOOP')).to.deep.equal(['501 5.5.4 Malformed BDAT size, the chunk cannot be read; closing connection'])
        expect(client.ended).to.equal(true)
      })
    })

    describe('refusals', () => {
      it('answers 552 to the chunk that passes the size limit, and to every later chunk', async () => {
        const { client } = await startAt('rcpt', { maxMessageSize: 5 })
        client.write(Buffer.concat([bdat('abc'), bdat('def'), bdat('g', true), Buffer.from('NOOP\r\n')]))
        expect(await client.settle()).to.deep.equal([
          '250 2.0.0 3 octets received',
          '552 5.3.4 Message size exceeds fixed maximum message size',
          '552 5.3.4 Message size exceeds fixed maximum message size',
          '250 2.0.0 OK',
        ])
      })

      it('ends the refused transaction with the LAST chunk, however long that chunk is', async () => {
        for (const last of [bdat('g', true), Buffer.from('BDAT 0 LAST\r\n')]) {
          const { smtp, client } = await startAt('rcpt', { maxMessageSize: 2 })
          const log = recordEvents(smtp)
          client.write(Buffer.concat([bdat('abc'), last]))
          client.write(crlf('MAIL FROM:<a@b.test>'))
          expect(await client.settle()).to.deep.equal([
            '552 5.3.4 Message size exceeds fixed maximum message size',
            '552 5.3.4 Message size exceeds fixed maximum message size',
            '250 2.1.0 Sender OK',
          ])
          expect(log).to.deep.equal(['data', 'transaction:rejected', 'sender'])
        }
      })

      it('answers the data listener’s refusal to the first chunk and to later ones', async () => {
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('data', () => false))
        client.write(Buffer.concat([bdat('abc'), bdat('def', true)]))
        expect(await client.settle()).to.deep.equal(['554 5.7.1 Transaction rejected', '554 5.7.1 Transaction rejected'])
      })

      it('answers 550 on LAST when the message listener refuses', async () => {
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', () => false))
        client.write(bdat('abc', true))
        expect(await client.settle()).to.deep.equal(['550 5.7.1 Message rejected'])
      })

      it('applies the line-ending policy to a text body sent with BDAT', async () => {
        const { client } = await startAt('rcpt')
        client.write(bdat('a\nb\r\n', true))
        expect(await client.settle()).to.deep.equal(['550 5.6.0 Message contains a bare CR or LF, line endings must be CRLF'])
      })
    })

    describe('a refused chunk split across reads', () => {
      // Each refused chunk holds command-like text: a reader that loses its place in the chunk
      // runs it as commands or eats the command after it. Every case is fed whole, cut once at
      // every offset, and one octet per read; all must give exactly the same replies.
      const TOO_BIG = '552 5.3.4 Message size exceeds fixed maximum message size'
      const cases: Array<{ name: string; rung: 'ehlo' | 'rcpt'; options?: SmtpOptions; refuseData?: boolean; input: Buffer; replies: string[] }> = [
        {
          name: 'BDAT before MAIL (503, skipped unread)',
          rung: 'ehlo',
          input: Buffer.concat([bdat('QUIT\r\nRSET\r\n', true), Buffer.from('NOOP\r\nMAIL FROM:<a@b.test>\r\n')]),
          replies: ['503 5.5.1 Need MAIL command first', '250 2.0.0 OK', '250 2.1.0 Sender OK'],
        },
        {
          name: 'refused by the data listener, then a LAST chunk that ends the transaction',
          rung: 'rcpt',
          refuseData: true,
          input: Buffer.concat([bdat('RSET\r\nQUIT\r\n'), bdat('NOOP\r\n', true), Buffer.from('NOOP\r\nMAIL FROM:<a@b.test>\r\n')]),
          replies: ['554 5.7.1 Transaction rejected', '554 5.7.1 Transaction rejected', '250 2.0.0 OK', '250 2.1.0 Sender OK'],
        },
        {
          name: 'past maxMessageSize, then a LAST chunk that ends the transaction',
          rung: 'rcpt',
          options: { maxMessageSize: 5 },
          input: Buffer.concat([bdat('abc'), bdat('QUIT\r\n'), bdat('RSET\r\n', true), Buffer.from('NOOP\r\nMAIL FROM:<a@b.test>\r\n')]),
          replies: ['250 2.0.0 3 octets received', TOO_BIG, TOO_BIG, '250 2.0.0 OK', '250 2.1.0 Sender OK'],
        },
      ]

      async function feed(rung: 'ehlo' | 'rcpt', options: SmtpOptions, refuseData: boolean, pieces: Buffer[]): Promise<{ replies: string[]; ended: boolean }> {
        const { client } = await startAt(rung, options, (smtp) => {
          if (refuseData) smtp.on('data', () => false)
        })
        for (const piece of pieces) client.write(piece)
        return { replies: await client.settle(), ended: client.ended }
      }

      for (const { name, rung, options = {}, refuseData = false, input, replies } of cases) {
        it(name, async () => {
          expect(await feed(rung, options, refuseData, [input])).to.deep.equal({ replies, ended: false })
          for (let k = 1; k < input.length; k++) {
            const split = await feed(rung, options, refuseData, [input.subarray(0, k), input.subarray(k)])
            expect(split, `cut at ${k}`).to.deep.equal({ replies, ended: false })
          }
          const octets = [...input].map((octet) => Buffer.from([octet]))
          expect(await feed(rung, options, refuseData, octets), 'one octet per read').to.deep.equal({ replies, ended: false })
        })
      }
    })

    describe('BINARYMIME', () => {
      it('takes any octets byte for byte with BODY=BINARYMIME', async () => {
        let body: Buffer = Buffer.alloc(0)
        const { client } = await startAt('ehlo', {}, (smtp) => smtp.on('message', (e) => void (body = e.body ?? Buffer.alloc(0))))
        await client.send('MAIL FROM:<a@b.test> BODY=BINARYMIME', 'RCPT TO:<c@d.test>')
        const binary = Buffer.from([0, 10, 13, 46, 13, 10, 46, 13, 10, 255, 128, 10, 10])
        client.write(bdat(binary, true))
        expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
        expect(body).to.deep.equal(binary)
      })

      it('refuses DATA for a BINARYMIME transaction with 503', async () => {
        const { client } = await startAt('ehlo')
        const replies = await client.send('MAIL FROM:<a@b.test> BODY=BINARYMIME', 'RCPT TO:<c@d.test>', 'DATA')
        expect(replies).to.deep.equal(['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK', '503 5.6.1 BODY=BINARYMIME requires BDAT'])
      })

      it('refuses BODY=BINARYMIME when CHUNKING is off', async () => {
        const { client } = await startAt('ehlo', { chunking: false })
        expect(await client.send('MAIL FROM:<a@b.test> BODY=BINARYMIME')).to.deep.equal(['501 5.5.4 Invalid parameter value'])
      })
    })
  })
})
