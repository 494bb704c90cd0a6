import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpError, type SmtpwireError } from '../../lib/errors.js'
import type { Verdict } from '../../lib/events.js'
import type { SmtpOptions } from '../../lib/options.js'
import type { SmtpProtocol } from '../../lib/protocol.js'
import { deferred, nextTurn, recordEvents, startAt } from '../helpers/ladder.js'
import { crlf, dataBlock, deliveredText } from '../helpers/transcript.js'

const HEADERS = ['From: <sender@client.test>', 'Subject: test']
const BODY = ['Hello,', '.leading dot', '..two dots', '', 'end']

describe('SmtpProtocol', () => {
  describe('DATA', () => {
    it('delivers the message dot-unstuffed with its line endings, in message.body', async () => {
      let body: Buffer | null = null
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', (e) => void (body = e.body)))
      expect(await client.send('DATA')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>'])
      client.write(dataBlock(HEADERS, BODY))
      expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
      expect(String(body)).to.equal(deliveredText(HEADERS, BODY))
    })

    it('delivers an empty message', async () => {
      let body: Buffer | null = null
      let size = -1
      const { client } = await startAt('rcpt', {}, (smtp) =>
        smtp.on('message', (e) => {
          body = e.body
          size = e.transaction.size
        }),
      )
      expect(await client.send('DATA', '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Message accepted'])
      expect(body).to.deep.equal(Buffer.alloc(0))
      expect(size).to.equal(0)
    })

    it('takes several messages in one session', async () => {
      const bodies: string[] = []
      const { client } = await startAt('ehlo', {}, (smtp) => smtp.on('message', (e) => void bodies.push(String(e.body))))
      for (const n of [1, 2, 3]) {
        const replies = await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', `message ${n}`, '.')
        expect(replies[3]).to.equal('250 2.0.0 Message accepted')
      }
      expect(bodies).to.deep.equal(['message 1\r\n', 'message 2\r\n', 'message 3\r\n'])
    })

    it('treats commands after the DATA line as message text once 354 is sent', async () => {
      let body = ''
      const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', (e) => void (body = String(e.body))))
      const replies = await client.send('DATA', 'RSET', 'QUIT', '.', 'NOOP')
      expect(replies).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Message accepted', '250 2.0.0 OK'])
      expect(body).to.equal('RSET\r\nQUIT\r\n')
    })

    describe('dataChunk', () => {
      it('batches by chunkSize: every chunk but the last is at least that long, and they add up to the message', async () => {
        for (const split of ['one write', 'byte by byte'] as const) {
          const chunks: Buffer[] = []
          const { client } = await startAt('rcpt', { chunkSize: 16 }, (smtp) => smtp.on('dataChunk', (e) => void chunks.push(e.chunk)))
          await client.send('DATA')
          const input = dataBlock(HEADERS, BODY)
          if (split === 'one write') client.write(input)
          else for (const byte of input) client.write(byte)
          expect(await client.settle(), split).to.deep.equal(['250 2.0.0 Message accepted'])
          expect(Buffer.concat(chunks).toString(), split).to.equal(deliveredText(HEADERS, BODY))
          for (const chunk of chunks.slice(0, -1)) expect(chunk.length, split).to.be.at.least(16)
          if (split === 'byte by byte') expect(chunks.length).to.be.greaterThan(2)
        }
      })

      it('does not collect message.body when dataChunk is listened to', async () => {
        let body: Buffer | null = Buffer.alloc(1)
        const { client } = await startAt('rcpt', {}, (smtp) => {
          smtp.on('dataChunk', () => undefined)
          smtp.on('message', (e) => void (body = e.body))
        })
        await client.send('DATA', 'x', '.')
        expect(body).to.equal(null)
      })

      it('requireBody() gives the collected body, and fails the message loudly when it was not collected', async () => {
        const seen: string[] = []
        const errors: string[] = []
        const listen = (smtp: SmtpProtocol): void => {
          smtp.on('message', ({ requireBody }) => void seen.push(requireBody().toString('latin1')))
          smtp.on('error', ({ error, event }) => void errors.push(`${event} ${(error as SmtpwireError).code}`))
        }
        const collected = await startAt('rcpt', { collectBody: true }, (smtp) => {
          smtp.on('dataChunk', () => undefined)
          listen(smtp)
        })
        expect(await collected.client.data('x')).to.deep.equal(['250 2.0.0 Message accepted'])
        const streamed = await startAt('rcpt', {}, (smtp) => {
          smtp.on('dataChunk', () => undefined)
          listen(smtp)
        })
        expect(await streamed.client.data('y')).to.deep.equal(['451 4.3.0 Local error in processing, try again later'])
        expect(seen).to.deep.equal(['x\r\n'])
        expect(errors).to.deep.equal(['message SMTPWIRE_ERR_NO_BODY'])
      })

      it('collects message.body as well when collectBody is true', async () => {
        let body = ''
        const { client } = await startAt('rcpt', { collectBody: true }, (smtp) => {
          smtp.on('dataChunk', () => undefined)
          smtp.on('message', (e) => void (body = String(e.body)))
        })
        await client.send('DATA', 'x', '.')
        expect(body).to.equal('x\r\n')
      })

      it('pauses reading while a dataChunk Promise is pending', async () => {
        const write = deferred<Verdict>()
        const chunkListener = sinon.spy(() => write.promise)
        const { client } = await startAt('rcpt', { chunkSize: 4 }, (smtp) => smtp.on('dataChunk', chunkListener))
        await client.send('DATA')
        client.write('0123456789')
        await nextTurn()
        expect(chunkListener.callCount).to.equal(1)
        expect(client.paused).to.equal(true)
        client.write('abcdef\r\n.\r\n')
        await nextTurn()
        expect(chunkListener.callCount).to.equal(1)
        write.resolve(true)
        expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
        expect(chunkListener.callCount).to.equal(2)
        expect(client.paused).to.equal(false)
      })

      it('refuses the message at its end when a dataChunk listener refuses, without asking message', async () => {
        const message = sinon.spy()
        const { smtp, client } = await startAt('rcpt', { chunkSize: 4 }, (s) => {
          s.on('dataChunk', () => {
            throw new SmtpError(552, 'Mailbox full', '5.2.2')
          })
          s.on('message', message)
        })
        const log = recordEvents(smtp, ['dataChunk', 'headers'])
        expect(await client.send('DATA', 'abcdefgh', 'more', '.', 'NOOP')).to.deep.equal([
          '354 End data with <CR><LF>.<CR><LF>',
          '552 5.2.2 Mailbox full',
          '250 2.0.0 OK',
        ])
        expect(message.called).to.equal(false)
        expect(log).to.deep.equal(['data', 'transaction:rejected'])
      })

      it('answers 451 at the end when a dataChunk listener blows up', async () => {
        const { smtp, client } = await startAt('rcpt', { chunkSize: 4 }, (s) => s.on('dataChunk', () => Promise.reject(new Error('disk full'))))
        const errors: string[] = []
        smtp.on('error', ({ error, event }) => void errors.push(`${event}: ${error.message}`))
        expect(await client.send('DATA', 'abcdefgh', '.')).to.deep.equal([
          '354 End data with <CR><LF>.<CR><LF>',
          '451 4.3.0 Local error in processing, try again later',
        ])
        expect(errors).to.deep.equal(['dataChunk: disk full'])
      })
    })

    describe('when the client goes away mid-DATA', () => {
      it('fires no message and reports the aborted transaction on close', async () => {
        const message = sinon.spy()
        const { smtp, client } = await startAt('rcpt', {}, (s) => s.on('message', message))
        const log = recordEvents(smtp, ['message'])
        await client.send('DATA', 'Subject: cut off', '', 'partial line')
        await client.end()
        expect(message.called).to.equal(false)
        expect(log).to.deep.equal(['data', 'headers', 'transaction:closed', 'close:peer:aborted'])
      })

      it('reports a clean close when no transaction was open', async () => {
        const { smtp, client } = await startAt('ehlo')
        const log = recordEvents(smtp)
        await client.end()
        expect(log).to.deep.equal(['close:peer'])
      })

      it('still answers commands the client sent before it half-closed', async () => {
        const { client } = await startAt('rcpt')
        client.write(crlf('DATA', 'text', '.', 'QUIT'))
        expect(await client.end()).to.deep.equal([
          '354 End data with <CR><LF>.<CR><LF>',
          '250 2.0.0 Message accepted',
          '221 2.0.0 mx.test Service closing transmission channel',
        ])
      })
    })

    describe('maxMessageSize', () => {
      it('answers 552 after the data ends, delivers no more than the limit, and goes on', async () => {
        let delivered = 0
        const message = sinon.spy()
        const { client } = await startAt('rcpt', { maxMessageSize: 20, chunkSize: 1 }, (smtp) => {
          smtp.on('dataChunk', (e) => void (delivered += e.chunk.length))
          smtp.on('message', message)
        })
        await client.send('DATA')
        client.write(crlf('0123456789', '0123456789', '0123456789', '.'))
        expect(await client.settle()).to.deep.equal(['552 5.3.4 Message size exceeds fixed maximum message size'])
        expect(delivered).to.be.at.most(20)
        expect(message.called).to.equal(false)
        const next = await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'ok', '.')
        expect(next[3]).to.equal('250 2.0.0 Message accepted')
      })

      /** Every body event with the size the transaction reported then, for a DATA body written in `pieces`. */
      async function pastTheLimit(options: SmtpOptions, pieces: string[]): Promise<{ replies: string[]; events: string[] }> {
        const events: string[] = []
        const { client } = await startAt('rcpt', options, (smtp) => {
          smtp.on('headers', (e) => void events.push(`headers ${e.transaction.size}`))
          smtp.on('dataChunk', (e) => void events.push(`dataChunk ${JSON.stringify(e.chunk.toString('latin1'))} ${e.transaction.size}`))
          smtp.on('message', () => void events.push('message'))
          smtp.on('transaction', (e) => void (e.transaction && events.push(`transaction ${e.reason} ${e.transaction.size}`)))
        })
        await client.send('DATA')
        for (const piece of pieces) client.write(piece)
        return { replies: await client.settle(), events }
      }
      const TOO_BIG = '552 5.3.4 Message size exceeds fixed maximum message size'

      it('past the limit: no further dataChunk, not even the batch still pending, and transaction.size stays within it', async () => {
        const { replies, events } = await pastTheLimit({ maxMessageSize: 20, chunkSize: 8 }, ['0123456789\r\n', 'abcdef', 'ghij\r\n', 'klmnopqrst\r\n', '.\r\n'])
        expect(replies).to.deep.equal([TOO_BIG])
        // "abcdef" waited in a batch short of chunkSize when "ghij" passed the limit: it is dropped
        expect(events).to.deep.equal(['dataChunk "0123456789\\r\\n" 12', 'transaction rejected 20'])
      })

      it('past the limit: no headers event for a header block that ends beyond it', async () => {
        const { replies, events } = await pastTheLimit({ maxMessageSize: 20, chunkSize: 1 }, ['Subject: 0123', '456789abcdef\r\n', '\r\n', 'body\r\n', '.\r\n'])
        expect(replies).to.deep.equal([TOO_BIG])
        expect(events).to.deep.equal(['dataChunk "Subject: 0123" 13', 'transaction rejected 20'])
      })

      it('accepts a message of exactly the limit', async () => {
        const { client } = await startAt('rcpt', { maxMessageSize: 12 })
        expect(await client.send('DATA', '0123456789', '.')).to.deep.equal([
          '354 End data with <CR><LF>.<CR><LF>',
          '250 2.0.0 Message accepted',
        ])
      })
    })

    describe('headers', () => {
      it('fires once the blank line is read, with the raw header block', async () => {
        let headers = ''
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('headers', (e) => void (headers = String(e.headers))))
        await client.send('DATA', ...HEADERS, '', 'body', '.')
        expect(headers).to.equal(crlf(...HEADERS, ''))
      })

      it('lets a gateway refuse the message early', async () => {
        const { client } = await startAt('rcpt', {}, (smtp) =>
          smtp.on('headers', ({ headers }) => (String(headers).includes('Subject: spam') ? false : true)),
        )
        const replies = await client.send('DATA', 'Subject: spam', '', 'buy now', '.')
        expect(replies[1]).to.equal('550 5.7.1 Message rejected')
      })

      it('gives a truncated block when the headers pass maxHeaderSize', async () => {
        let event: { headers: string; truncated: boolean } | null = null
        const { client } = await startAt('rcpt', { maxHeaderSize: 10 }, (smtp) =>
          smtp.on('headers', (e) => void (event = { headers: String(e.headers), truncated: e.truncated })),
        )
        await client.send('DATA', 'Subject: a long subject line', '', 'x', '.')
        expect(event).to.deep.equal({ headers: 'Subject: a', truncated: true })
      })

      it('treats a message without a blank line as all header', async () => {
        let headers = ''
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('headers', (e) => void (headers = String(e.headers))))
        await client.send('DATA', 'Subject: only', '.')
        expect(headers).to.equal('Subject: only\r\n')
      })
    })

    describe('line endings', () => {
      it('refuses a message with a bare LF by default, after reading it to CRLF.CRLF', async () => {
        const { client } = await startAt('rcpt')
        await client.send('DATA')
        client.write('line one\nline two\r\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n')
        expect(await client.settle()).to.deep.equal(['550 5.6.0 Message contains a bare CR or LF, line endings must be CRLF'])
      })

      it('normalises bare line endings when asked', async () => {
        let body = ''
        const { client } = await startAt('rcpt', { lineEndings: 'normalize' }, (smtp) => smtp.on('message', (e) => void (body = String(e.body))))
        await client.send('DATA')
        client.write('a\nb\rc\r\n.\r\n')
        expect(await client.settle()).to.deep.equal(['250 2.0.0 Message accepted'])
        expect(body).to.equal('a\r\nb\r\nc\r\n')
      })

      it('refuses a text line over maxTextLineLength', async () => {
        const { client } = await startAt('rcpt', { maxTextLineLength: 20 })
        const replies = await client.send('DATA', 'x'.repeat(19), '.')
        expect(replies[1]).to.equal('550 5.6.0 Message contains a line longer than the limit')
      })

      it('accepts text lines of any length by default, as Postfix and Exim do', async () => {
        let body = ''
        const { client } = await startAt('rcpt', {}, (smtp) => smtp.on('message', (e) => void (body = String(e.body))))
        const long = 'x'.repeat(5000)
        expect(await client.send('DATA', 'Subject: x', '', long, '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Message accepted'])
        expect(body).to.equal(`Subject: x\r\n\r\n${long}\r\n`)
      })

      it('keeps the RFC 5321 limit as an option: maxTextLineLength 1000 takes 998 octets and CRLF, not 999', async () => {
        const { client } = await startAt('rcpt', { maxTextLineLength: 1000 })
        expect(await client.send('DATA', 'x'.repeat(998), '.')).to.deep.equal(['354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Message accepted'])
        await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@mx.test>')
        expect(await client.send('DATA', 'x'.repeat(999), '.')).to.deep.equal([
          '354 End data with <CR><LF>.<CR><LF>',
          '550 5.6.0 Message contains a line longer than the limit',
        ])
      })
    })

    it('prepends a Received header when addReceivedHeader is on', async () => {
      let body = ''
      const { client } = await startAt('rcpt', { addReceivedHeader: true }, (smtp) => smtp.on('message', (e) => void (body = String(e.body))))
      await client.send('DATA', 'Subject: x', '', 'y', '.')
      expect(body).to.match(
        /^Received: from client\.test \(unknown \[192\.0\.2\.1\]\)\r\n\tby mx\.test \(smtpwire\) with ESMTP id \w+\.\w+\r\n\tfor <rcpt@mx\.test>;\r\n\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nSubject: x\r\n\r\ny\r\n$/,
      )
    })
  })
})
