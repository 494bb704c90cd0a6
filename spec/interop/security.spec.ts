import { expect } from 'chai'
import { spawn } from 'node:child_process'
import nodemailer from 'nodemailer'
import { createSelfSignedCertificate } from '../../lib/certificate.js'
import { SmtpServer } from '../../lib/server.js'
import type { SessionInfo } from '../../lib/session-info.js'
import { requireTool } from '../helpers/external-tools.js'

const CERT = createSelfSignedCertificate({ altNames: ['localhost', '127.0.0.1'] })
const PASSWORDS: Record<string, string> = { alice: 'correct horse' }
const TOKENS: Record<string, string> = { alice: 'ya29.token-for-alice' }

interface Delivery {
  session: SessionInfo
  body: string
}

/** Runs a command with `input` on stdin; resolves with its stdout and exit code. */
function run(command: string, args: string[], input = ''): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (text: Buffer) => (stdout += text.toString()))
    child.stderr.on('data', () => undefined)
    child.on('error', reject)
    child.on('exit', (code) => resolve({ stdout, code }))
    child.stdin.end(input)
  })
}

describe('TLS and AUTH with real clients', () => {
  let server: SmtpServer
  let port: number
  let securePort: number
  let delivered: Delivery[]

  beforeEach(async () => {
    delivered = []
    server = new SmtpServer(
      { domain: 'mx.test', tls: { key: CERT.key, cert: CERT.cert }, authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5', 'XOAUTH2'] },
      (smtp) => {
        smtp.on('auth', ({ credentials }) => {
          switch (credentials.mechanism) {
            case 'CRAM-MD5':
              return credentials.verify(PASSWORDS[credentials.username] ?? '')
            case 'XOAUTH2':
              return TOKENS[credentials.username] === credentials.token
            default:
              return PASSWORDS[credentials.username] === credentials.password
          }
        })
        smtp.on('message', ({ session, body }) => void delivered.push({ session: { ...session }, body: String(body) }))
      },
    )
    port = (await server.listen(0, '127.0.0.1')).port
    securePort = (await server.listen(0, '127.0.0.1', { secure: true })).port
  })

  afterEach(async () => {
    await server.close()
  })

  it('openssl s_client -starttls smtp delivers a message over TLS', async function (this: Mocha.Context) {
    requireTool(this, 'openssl', 'apt-get install openssl')
    const input = ['EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'Subject: via openssl', '', 'hello', '.', 'QUIT', ''].join('\n')
    const { stdout } = await run('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`, '-quiet', '-crlf', '-ign_eof'], input)
    expect(stdout).to.include('250 2.0.0 Message accepted')
    expect(stdout).to.include('221 2.0.0 mx.test Service closing transmission channel')
    expect(delivered).to.have.length(1)
    expect(delivered[0]?.body).to.equal('Subject: via openssl\r\n\r\nhello\r\n')
    expect(delivered[0]?.session.tls?.implicit).to.equal(false)
  })

  const methods: Array<[name: string, auth: object]> = [
    ['PLAIN', { auth: { user: 'alice', pass: 'correct horse' }, authMethod: 'PLAIN' }],
    ['LOGIN', { auth: { user: 'alice', pass: 'correct horse' }, authMethod: 'LOGIN' }],
    ['CRAM-MD5', { auth: { user: 'alice', pass: 'correct horse' }, authMethod: 'CRAM-MD5' }],
    ['XOAUTH2', { auth: { type: 'OAuth2', user: 'alice', accessToken: 'ya29.token-for-alice' } }],
  ]
  for (const [name, auth] of methods) {
    it(`nodemailer with requireTLS authenticates with ${name}`, async () => {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, ...auth })
      const info = await transport.sendMail({ from: 'alice@b.test', to: 'bob@d.test', subject: name, text: 'authenticated' })
      transport.close()
      expect(info.response).to.equal('250 2.0.0 Message accepted')
      expect(delivered[0]?.session.user).to.equal('alice')
      expect(delivered[0]?.session.tls?.protocol).to.match(/^TLSv1\.[23]$/)
    })
  }

  it('nodemailer with secure: true speaks TLS from the first byte', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: securePort, secure: true, tls: { rejectUnauthorized: false } })
    const info = await transport.sendMail({ from: 'a@b.test', to: 'c@d.test', subject: 'smtps', text: 'implicit' })
    transport.close()
    expect(info.response).to.equal('250 2.0.0 Message accepted')
    expect(delivered[0]?.session.tls?.implicit).to.equal(true)
  })

  it('nodemailer gets 535 for a wrong password', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'alice', pass: 'wrong' },
    })
    let failure: { code?: string; responseCode?: number } = {}
    try {
      await transport.sendMail({ from: 'a@b.test', to: 'c@d.test', text: 'x' })
    } catch (error) {
      failure = error as typeof failure
    }
    transport.close()
    expect(failure).to.include({ code: 'EAUTH', responseCode: 535 })
    expect(delivered).to.deep.equal([])
  })

  for (const method of ['PLAIN', 'LOGIN']) {
    it(`swaks does STARTTLS and AUTH ${method}`, async function (this: Mocha.Context) {
      requireTool(this, 'swaks', 'apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl')
      const { stdout, code } = await run('swaks', [
        '--server', `127.0.0.1:${port}`, '--tls', '--auth', method, '--auth-user', 'alice', '--auth-password', 'correct horse',
        '--from', 'alice@b.test', '--to', 'bob@d.test', '--header', `Subject: swaks ${method}`, '--body', 'from swaks',
      ])
      expect(stdout).to.include('<~  235 2.7.0 Authentication succeeded')
      expect(stdout).to.include('<~  250 2.0.0 Message accepted')
      expect(code).to.equal(0)
      expect(delivered[0]?.session.user).to.equal('alice')
    })
  }
})
