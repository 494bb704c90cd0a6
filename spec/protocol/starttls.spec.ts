import { expect } from 'chai'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import type { SmtpOptions } from '../../lib/options.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import type { TlsInfo } from '../../lib/session-info.js'
import { deferred, nextTurn, recordEvents } from '../helpers/ladder.js'
import { crlf } from '../helpers/transcript.js'

const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: 'mx.test', implicit: false }
const READY = '220 2.0.0 Ready to start TLS'

/** A session over an in-memory connection that can "upgrade" (the handshake is simulated). */
async function connect(
  options: SmtpOptions = {},
  setup: (smtp: SmtpProtocol) => void = () => undefined,
  handshake: () => Promise<TlsInfo> = async () => TLS,
): Promise<{ smtp: SmtpProtocol; client: SmtpDriver }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', ...options })
  setup(smtp)
  const client = new SmtpDriver(smtp, { handshake })
  await client.connect()
  return { smtp, client }
}

describe('SmtpProtocol', () => {
  describe('STARTTLS (RFC 3207)', () => {
    it('is offered only when the transport can upgrade, and not once TLS is up', async () => {
      const plain = new SmtpDriver({ domain: 'mx.test' })
      await plain.connect()
      expect(await plain.command('EHLO c.test')).to.not.include('STARTTLS')
      expect(await plain.command('STARTTLS')).to.equal('502 5.5.1 Command not implemented')
      const { client } = await connect()
      expect(await client.command('EHLO c.test')).to.match(/\n250 STARTTLS$/)
      expect(await client.command('STARTTLS')).to.equal(READY)
      expect(await client.command('EHLO c.test')).to.not.include('STARTTLS')
    })

    it('still takes the driver option by its former name, startTls', async () => {
      const client = new SmtpDriver({ domain: 'mx.test' }, { startTls: async () => TLS })
      await client.connect()
      expect(await client.command('EHLO c.test')).to.match(/\n250 STARTTLS$/)
      expect(await client.command('STARTTLS')).to.equal(READY)
      expect(client.protocol.session.tls).to.deep.equal(TLS)
    })

    it('forgets the session and the transaction, and reports the TLS state', async () => {
      let secure: TlsInfo | null = null
      const { smtp, client } = await connect({}, (s) => s.on('secure', ({ session }) => void (secure = session.tls)))
      const log = recordEvents(smtp)
      await client.send('EHLO c.test', 'MAIL FROM:<a@b.test>')
      expect(await client.command('STARTTLS')).to.equal(READY)
      expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('503 Send HELO/EHLO first')
      expect(secure).to.deep.equal(TLS)
      expect(smtp.session.heloName).to.equal(null)
      expect(smtp.session.tls).to.deep.equal(TLS)
      expect(log).to.deep.equal(['ehlo', 'transaction:helo', 'sender', 'transaction:tls'])
    })

    it('throws away commands pipelined after STARTTLS in the same plaintext read', async () => {
      const sender = sinon.spy()
      const { client } = await connect({}, (smtp) => smtp.on('sender', sender))
      await client.command('EHLO c.test')
      // the injection: everything after STARTTLS arrived in plaintext and must never run
      client.write(crlf('STARTTLS', 'EHLO evil.test', 'MAIL FROM:<evil@x.test>', 'RCPT TO:<victim@mx.test>') + 'MAIL FR')
      expect(await client.settle()).to.deep.equal([READY])
      // after the handshake: the partial line is gone too, so "OM:<…>" is not a MAIL command
      expect(await client.send('OM:<evil@x.test>', 'MAIL FROM:<a@b.test>')).to.deep.equal(['500 Command unrecognized', '503 Send HELO/EHLO first'])
      expect(sender.called).to.equal(false)
    })

    it('reads no input until the handshake is done', async () => {
      const handshake = deferred<TlsInfo>()
      const { client } = await connect({}, () => undefined, () => handshake.promise)
      await client.command('EHLO c.test')
      client.write(crlf('STARTTLS'))
      await nextTurn()
      client.write(crlf('EHLO c.test'))
      await nextTurn()
      expect(client.transcript.trimEnd().split('\r\n').pop()).to.equal(READY)
      expect(client.paused).to.equal(true)
      handshake.resolve(TLS)
      const [ready, ehlo] = await client.settle()
      expect(ready).to.equal(READY)
      expect(ehlo).to.match(/^250-mx\.test greets c\.test/)
    })

    it('reads again after the handshake even when the 220 write was held back', async () => {
      // The plaintext stream's 'drain' never comes once it was swapped for the TLS one: a finished
      // handshake is itself proof the client read the 220.
      const smtp = new SmtpProtocol({ domain: 'mx.test' })
      const written: string[] = []
      smtp.open({
        write: (chunk) => {
          written.push(chunk.toString())
          return !chunk.toString().startsWith('220 2.0.0')
        },
        end: () => undefined,
        upgrade: async () => TLS,
      })
      smtp.feed(Buffer.from(crlf('EHLO c.test')))
      await nextTurn()
      smtp.feed(Buffer.from(crlf('STARTTLS')))
      await nextTurn()
      smtp.feed(Buffer.from(crlf('EHLO c.test')))
      await nextTurn()
      expect(written.slice(-2).map((reply) => reply.split('\r\n')[0])).to.deep.equal([READY, '250-mx.test greets c.test'])
      smtp.close()
    })

    it('closes without a reply and emits tlsError when the handshake fails', async () => {
      const failure = new Error('no shared cipher')
      const { smtp, client } = await connect({}, () => undefined, () => Promise.reject(failure))
      const errors: Error[] = []
      smtp.on('tlsError', ({ error }) => void errors.push(error))
      await client.command('EHLO c.test')
      const log = recordEvents(smtp, ['tlsError'])
      expect(await client.send('STARTTLS')).to.deep.equal([READY])
      expect(errors).to.deep.equal([failure])
      expect(client.ended).to.equal(true)
      expect(log).to.deep.equal(['close:error'])
    })

    it('refuses STARTTLS twice, before EHLO, and with an argument', async () => {
      const { client } = await connect()
      expect(await client.send('STARTTLS', 'STARTTLS now')).to.deep.equal(['503 Send EHLO first, this command is an ESMTP extension', '501 Syntax error in parameters or arguments'])
      await client.command('EHLO c.test')
      await client.command('STARTTLS')
      await client.command('EHLO c.test')
      expect(await client.command('STARTTLS')).to.equal('503 5.5.1 TLS already active')
    })

    describe('tlsPolicy', () => {
      it('required: only NOOP, EHLO, STARTTLS and QUIT before TLS; HELO and RSET get 530 too (RFC 3207 §4)', async () => {
        const { client } = await connect({ tlsPolicy: 'required' })
        // enhanced codes only after EHLO (RFC 2034)
        const refused = '530 5.7.0 Must issue a STARTTLS command first'
        const replies = await client.send('HELO c.test', 'RSET', 'EHLO c.test', 'NOOP', 'RSET', 'HELO c.test', 'MAIL FROM:<a@b.test>', 'VRFY x', 'AUTH PLAIN', 'HELP')
        expect(replies[2]).to.match(/^250-mx\.test /)
        expect([...replies.slice(0, 2), ...replies.slice(3)]).to.deep.equal(['530 Must issue a STARTTLS command first', '530 Must issue a STARTTLS command first', '250 2.0.0 OK', refused, refused, refused, refused, refused, refused])
        expect(await client.command('STARTTLS')).to.equal(READY)
        expect(await client.send('HELO c.test', 'RSET')).to.deep.equal(['250 mx.test greets c.test', '250 Reset OK'])
      })

      it('required: a malformed or unknown command before TLS gets 530 too (TLS is checked before syntax)', async () => {
        const { client } = await connect({ tlsPolicy: 'required' })
        await client.command('EHLO c.test')
        const refused = '530 5.7.0 Must issue a STARTTLS command first'
        expect(await client.send('MAIL FROM:bad', 'AUTH', 'RCPT', 'HELO', 'VRFY', 'FROB')).to.deep.equal([refused, refused, refused, refused, refused, refused])
        // A line that is no command at all is still just that.
        expect(await client.command('@@@')).to.match(/^500 /)
        expect(await client.command('STARTTLS')).to.equal(READY)
        expect(await client.command('MAIL FROM:bad')).to.match(/^50[01] /)
      })

      it('required: a BDAT refused before TLS still has its chunk read, not run as commands', async () => {
        const { client } = await connect({ tlsPolicy: 'required' })
        await client.command('EHLO c.test')
        client.write('BDAT 6 LAST\r\nRSET\r\nNOOP\r\n')
        expect(await client.settle()).to.deep.equal(['530 5.7.0 Must issue a STARTTLS command first', '250 2.0.0 OK'])
      })

      it('forbidden: STARTTLS is neither offered nor accepted', async () => {
        const { client } = await connect({ tlsPolicy: 'forbidden' })
        expect(await client.command('EHLO c.test')).to.not.include('STARTTLS')
        expect(await client.command('STARTTLS')).to.equal('502 5.5.1 Command not implemented')
      })
    })
  })
})
