import { expect } from 'chai'
import { createHmac } from 'node:crypto'
import sinon from 'sinon'
import { SmtpDriver } from '../../lib/driver.js'
import { SmtpError } from '../../lib/errors.js'
import type { SmtpOptions } from '../../lib/options.js'
import { SmtpProtocol } from '../../lib/protocol.js'
import type { TlsInfo } from '../../lib/session-info.js'
import { recordEvents } from '../helpers/ladder.js'

const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', servername: null, implicit: false }
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
const USERS: Record<string, string> = { alice: 'wonderland', bob: 'builder' }

/**
 * A session after EHLO; `secure` simulates STARTTLS first. Listeners accept alice and bob with
 * their passwords (plainAuth), and check CRAM-MD5 and XOAUTH2 through `auth`.
 */
async function session(
  options: SmtpOptions = {},
  { secure = true, setup = (): void => undefined }: { secure?: boolean; setup?: (smtp: SmtpProtocol) => void } = {},
): Promise<{ smtp: SmtpProtocol; client: SmtpDriver }> {
  const smtp = new SmtpProtocol({ domain: 'mx.test', ...options })
  setup(smtp)
  const client = new SmtpDriver(smtp, { handshake: async () => TLS })
  await client.connect()
  await client.command('EHLO c.test')
  if (secure) {
    await client.command('STARTTLS')
    await client.command('EHLO c.test')
  }
  return { smtp, client }
}

const withPasswords = (smtp: SmtpProtocol): void => {
  smtp.on('plainAuth', ({ username, password }) => USERS[username] === password)
}
const withAuth = (smtp: SmtpProtocol): void => {
  smtp.on('auth', ({ credentials }) => {
    if (credentials.mechanism === 'CRAM-MD5') return credentials.verify(USERS[credentials.username] ?? '')
    if (credentials.mechanism === 'XOAUTH2') return credentials.token === 'token-for-alice' && credentials.username === 'alice'
    return USERS[credentials.username] === credentials.password
  })
}

describe('SmtpProtocol', () => {
  describe('AUTH (RFC 4954)', () => {
    describe('what is offered', () => {
      it('offers nothing without an auth listener or configured mechanism, before TLS or after', async () => {
        for (const secure of [false, true]) {
          const { client } = await session({}, { secure })
          expect(await client.command('EHLO c.test')).to.not.include('AUTH')
          expect(await client.send('AUTH PLAIN', 'AUTH NOSUCH')).to.deep.equal(['503 5.5.1 Authentication not enabled', '503 5.5.1 Authentication not enabled'])
        }
      })

      it('offers PLAIN and LOGIN once TLS is up, when a listener exists', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('EHLO c.test')).to.match(/\n250 AUTH PLAIN LOGIN$/)
      })

      it('keeps PLAIN and LOGIN (and XOAUTH2) off before TLS, answering 538 to them', async () => {
        const { client } = await session({ authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'] }, { secure: false, setup: withAuth })
        expect(await client.command('EHLO c.test')).to.match(/\n250-STARTTLS\n250 AUTH CRAM-MD5$/)
        expect(await client.send('AUTH PLAIN', 'AUTH LOGIN', 'AUTH XOAUTH2')).to.deep.equal(Array(3).fill('538 5.7.11 Encryption required for requested authentication mechanism'))
      })

      it('offers and accepts them before TLS with allowInsecureAuth', async () => {
        const { client } = await session({ allowInsecureAuth: true }, { secure: false, setup: withPasswords })
        expect(await client.command('EHLO c.test')).to.match(/\n250-STARTTLS\n250 AUTH PLAIN LOGIN$/)
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)).to.equal('235 2.7.0 Authentication succeeded')
      })

      it('offers nothing under authPolicy forbidden, and answers 503', async () => {
        const { client } = await session({ authPolicy: 'forbidden' }, { setup: withPasswords })
        expect(await client.command('EHLO c.test')).to.not.include('AUTH')
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)).to.equal('503 5.5.1 Authentication not enabled')
      })
    })

    describe('mechanisms', () => {
      it('PLAIN with an initial response: 235, and the session knows the user', async () => {
        const seen: unknown[] = []
        const { smtp, client } = await session({}, {
          setup: (s) => {
            s.on('plainAuth', (e) => {
              seen.push(['plainAuth', e.mechanism, e.username, e.password, e.authorizationId])
              return true
            })
            s.on('auth', (e) => {
              seen.push(['auth', e.mechanism, e.username])
              return true
            })
          },
        })
        expect(await client.command(`AUTH PLAIN ${b64('admin\0alice\0wonderland')}`)).to.equal('235 2.7.0 Authentication succeeded')
        expect(seen).to.deep.equal([
          ['plainAuth', 'PLAIN', 'alice', 'wonderland', 'admin'],
          ['auth', 'PLAIN', 'alice'],
        ])
        expect(smtp.session.user).to.equal('alice')
        expect(smtp.session.authenticatedAt).to.be.instanceOf(Date)
      })

      it('PLAIN without an initial response: an empty 334, then the credentials', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('AUTH PLAIN')).to.equal('334 ')
        expect(await client.command(b64('\0bob\0builder'))).to.equal('235 2.7.0 Authentication succeeded')
      })

      it('LOGIN: asks for the user name, then the password', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('AUTH LOGIN')).to.equal('334 VXNlcm5hbWU6')
        expect(await client.command(b64('alice'))).to.equal('334 UGFzc3dvcmQ6')
        expect(await client.command(b64('wonderland'))).to.equal('235 2.7.0 Authentication succeeded')
      })

      it('CRAM-MD5: the application checks the digest with the user’s secret', async () => {
        for (const [secret, reply] of [['wonderland', '235 2.7.0 Authentication succeeded'], ['guess', '535 5.7.8 Authentication credentials invalid']]) {
          const { client } = await session({ authMechanisms: ['CRAM-MD5'] }, { secure: false, setup: withAuth })
          const challenge = await client.command('AUTH CRAM-MD5')
          expect(challenge).to.match(/^334 [A-Za-z0-9+/=]+$/)
          const text = Buffer.from(challenge.slice(4), 'base64').toString()
          expect(text).to.match(/^<\d+\.\d+@mx\.test>$/)
          const digest = createHmac('md5', secret as string).update(text).digest('hex')
          expect(await client.command(b64(`alice ${digest}`))).to.equal(reply)
        }
      })

      it('XOAUTH2: a token accepted, or the JSON error, an empty line, then 535', async () => {
        const { client } = await session({ authMechanisms: ['XOAUTH2'] }, { setup: withAuth })
        const message = (token: string): string => b64(`user=alice\x01auth=Bearer ${token}\x01\x01`)
        const wrong = await client.command(`AUTH XOAUTH2 ${message('expired')}`)
        expect(wrong).to.match(/^334 /)
        expect(JSON.parse(Buffer.from(wrong.slice(4), 'base64').toString())).to.deep.equal({ status: '401', schemes: 'bearer' })
        expect(await client.command('')).to.equal('535 5.7.8 Authentication credentials invalid')
        expect(await client.command(`AUTH XOAUTH2 ${message('token-for-alice')}`)).to.equal('235 2.7.0 Authentication succeeded')
      })

      it('takes a long initial response (up to 12288 octets, RFC 4954 §4)', async () => {
        const { client } = await session({ authMechanisms: ['XOAUTH2'] }, { setup: (s) => s.on('auth', () => true) })
        const token = 'x'.repeat(8000)
        expect(await client.command(`AUTH XOAUTH2 ${b64(`user=alice\x01auth=Bearer ${token}\x01\x01`)}`)).to.equal('235 2.7.0 Authentication succeeded')
      })
    })

    describe('the command-line limit while AUTH is on offer', () => {
      // Defaults with AUTH offered: 512 + SIZE 26 + AUTH= 500 + BODY/SMTPUTF8 32 octets, CRLF
      // included. The framer then reads lines up to 12288 octets (for AUTH), so the limit for
      // every other command is checked on the framed line.
      const LIMIT = 1070
      const noop = (octets: number): string => `NOOP ${'x'.repeat(octets - 'NOOP '.length - 2)}`

      it('takes a command of exactly the limit (CRLF included) and refuses one octet more with 500 5.5.2', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('EHLO c.test')).to.match(/\n250 AUTH PLAIN LOGIN$/)
        expect(Buffer.byteLength(`${noop(LIMIT)}\r\n`)).to.equal(LIMIT)
        expect(await client.send(noop(LIMIT), noop(LIMIT + 1), 'NOOP')).to.deep.equal(['250 2.0.0 OK', '500 5.5.2 Line too long', '250 2.0.0 OK'])
      })

      it('holds the same boundary when AUTH is not offered (the framer enforces it)', async () => {
        const { client } = await session()
        expect(await client.command('EHLO c.test')).to.not.include('AUTH')
        const limit = LIMIT - 500
        expect(await client.send(noop(limit), noop(limit + 1), 'NOOP')).to.deep.equal(['250 2.0.0 OK', '500 5.5.2 Line too long', '250 2.0.0 OK'])
      })

      it('takes an AUTH line of exactly 12288 octets and refuses one of 12289', async () => {
        const { client } = await session({ authMechanisms: ['XOAUTH2'] }, { setup: (s) => s.on('auth', () => true) })
        const response = b64(`user=alice\x01auth=Bearer ${'t'.repeat(9204 - 25)}\x01\x01`)
        // trailing spaces are ignored by the parser, so they pad the line to the octet
        const line = (octets: number): string => `AUTH XOAUTH2 ${response}${' '.repeat(octets - 'AUTH XOAUTH2 '.length - response.length - 2)}`
        expect(Buffer.byteLength(`${line(12288)}\r\n`)).to.equal(12288)
        expect(await client.send(line(12289), line(12288))).to.deep.equal(['500 5.5.2 Line too long', '235 2.7.0 Authentication succeeded'])
      })
    })

    describe('refusals', () => {
      it('answers 535 to wrong credentials and tells authFailure listeners', async () => {
        const failures: unknown[] = []
        const { client } = await session({}, {
          setup: (s) => {
            withPasswords(s)
            s.on('authFailure', ({ username, mechanism, failures: n }) => void failures.push([username, mechanism, n]))
          },
        })
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0nope')}`)).to.equal('535 5.7.8 Authentication credentials invalid')
        expect(await client.command(`AUTH PLAIN ${b64('\0mallory\0x')}`)).to.equal('535 5.7.8 Authentication credentials invalid')
        expect(failures).to.deep.equal([['alice', 'PLAIN', 1], ['mallory', 'PLAIN', 2]])
      })

      it('answers 421 and closes after maxAuthFailures', async () => {
        const { client } = await session({ maxAuthFailures: 2 }, { setup: withPasswords })
        const bad = `AUTH PLAIN ${b64('\0alice\0nope')}`
        expect(await client.send(bad, bad, 'NOOP')).to.deep.equal([
          '535 5.7.8 Authentication credentials invalid',
          '421 4.7.0 Too many failed authentication attempts, closing connection',
        ])
        expect(client.ended).to.equal(true)
      })

      it('cancels on * with 501, not counting a failure', async () => {
        const { smtp, client } = await session({}, { setup: withPasswords })
        await client.command('AUTH LOGIN')
        expect(await client.command('*')).to.equal('501 5.0.0 Authentication cancelled')
        expect(smtp.session.counters.authFailures).to.equal(0)
      })

      it('answers 501 5.5.2 to bad base64', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.send('AUTH PLAIN not*base64', 'AUTH LOGIN')).to.deep.equal(['501 5.5.2 Cannot decode base64 response', '334 VXNlcm5hbWU6'])
        expect(await client.command('%%%')).to.equal('501 5.5.2 Cannot decode base64 response')
      })

      it('refuses AUTH twice, during a transaction, before EHLO, and for unknown mechanisms', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('AUTH DIGEST-MD5')).to.equal('504 5.5.4 Unrecognized authentication mechanism')
        expect(await client.send('MAIL FROM:<a@b.test>', `AUTH PLAIN ${b64('\0alice\0wonderland')}`, 'RSET')).to.deep.equal([
          '250 2.1.0 Sender OK',
          '503 5.5.1 AUTH not allowed during a mail transaction',
          '250 2.0.0 Reset OK',
        ])
        await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)
        expect(await client.command(`AUTH PLAIN ${b64('\0bob\0builder')}`)).to.equal('503 5.5.1 Already authenticated')
        const fresh = new SmtpDriver({ domain: 'mx.test', allowInsecureAuth: true })
        fresh.protocol.on('plainAuth', () => true)
        await fresh.connect()
        expect(await fresh.command('AUTH PLAIN')).to.equal('503 Send EHLO first, this command is an ESMTP extension')
      })

      it('answers 503 to a bare AUTH (no mechanism) once authenticated and during a transaction (RFC 4954 §4)', async () => {
        const { client } = await session({}, { setup: withPasswords })
        expect(await client.command('AUTH')).to.equal('501 5.5.4 Syntax error in parameters or arguments')
        expect(await client.send('MAIL FROM:<a@b.test>', 'AUTH', 'AUTH PLAIN', 'RSET')).to.deep.equal([
          '250 2.1.0 Sender OK',
          '503 5.5.1 AUTH not allowed during a mail transaction',
          '503 5.5.1 AUTH not allowed during a mail transaction',
          '250 2.0.0 Reset OK',
        ])
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)).to.match(/^235 /)
        expect(await client.send('AUTH', 'AUTH PLAIN', 'AUTH NO-SUCH-MECH')).to.deep.equal([
          '503 5.5.1 Already authenticated',
          '503 5.5.1 Already authenticated',
          '503 5.5.1 Already authenticated',
        ])
      })

      it('answers 454 when a listener blows up, and reports the error', async () => {
        const { smtp, client } = await session({}, { setup: (s) => s.on('plainAuth', () => Promise.reject(new Error('directory down'))) })
        const errors: string[] = []
        smtp.on('error', ({ event, error }) => void errors.push(`${event}: ${error.message}`))
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)).to.equal('454 4.7.0 Temporary authentication failure')
        expect(errors).to.deep.equal(['plainAuth: directory down'])
        expect(smtp.session.counters.authFailures).to.equal(0)
      })

      it('sends a listener’s own SmtpError', async () => {
        const { client } = await session({}, {
          setup: (s) =>
            s.on('plainAuth', () => {
              throw new SmtpError(535, 'Password expired, change it at https://example.org', '5.7.8')
            }),
        })
        expect(await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)).to.equal('535 5.7.8 Password expired, change it at https://example.org')
      })

      it('refuses credentials nobody checks (CRAM-MD5 offered but only a plainAuth listener)', async () => {
        const { client } = await session({ authMechanisms: ['CRAM-MD5'] }, { setup: withPasswords })
        const challenge = await client.command('AUTH CRAM-MD5')
        const text = Buffer.from(challenge.slice(4), 'base64').toString()
        const digest = createHmac('md5', 'wonderland').update(text).digest('hex')
        expect(await client.command(b64(`alice ${digest}`))).to.equal('535 5.7.8 Authentication credentials invalid')
      })
    })

    describe('authPolicy required', () => {
      it('refuses MAIL before AUTH with 530, and takes it after', async () => {
        const { client } = await session({ authPolicy: 'required' }, { setup: withPasswords })
        expect(await client.command('MAIL FROM:<a@b.test>')).to.equal('530 5.7.0 Authentication required')
        await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)
        expect(await client.command('MAIL FROM:<a@b.test> AUTH=alice@b.test')).to.equal('250 2.1.0 Sender OK')
      })
    })

    it('forgets the authentication on STARTTLS (RFC 3207 §4.2)', async () => {
      const { smtp, client } = await session({ allowInsecureAuth: true }, { secure: false, setup: withPasswords })
      await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)
      expect(smtp.session.user).to.equal('alice')
      await client.command('STARTTLS')
      expect(smtp.session.user).to.equal(null)
    })

    it('names ESMTPSA in the Received header once authenticated over TLS', async () => {
      let body = ''
      const { client } = await session({ addReceivedHeader: true }, {
        setup: (s) => {
          withPasswords(s)
          s.on('message', (e) => void (body = String(e.body)))
        },
      })
      await client.command(`AUTH PLAIN ${b64('\0alice\0wonderland')}`)
      await client.send('MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'x', '.')
      expect(body).to.match(/ with ESMTPSA id /)
    })

    it('fires no transaction or message events during the exchange', async () => {
      const { smtp, client } = await session({}, { setup: withPasswords })
      const log = recordEvents(smtp, ['plainAuth'])
      const listener = sinon.spy()
      smtp.on('authFailure', listener)
      await client.command('AUTH LOGIN')
      await client.command(b64('alice'))
      await client.command(b64('wonderland'))
      expect(log).to.deep.equal([])
      expect(listener.called).to.equal(false)
    })
  })
})
