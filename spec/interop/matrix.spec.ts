// The interop matrix: real clients send real mail to the Maildir sample over loopback, and the
// stored file must hold exactly the message they sent. A missing client fails, never skips.

import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import { requirePython, runPython } from '../helpers/python.js'
import { requireTool } from '../helpers/external-tools.js'
import { SampleServer, splitTrace } from '../helpers/sample-server.js'

const USER = 'alice'
const PASSWORD = 'correct-horse'

/** The message every client sends: a leading dot, a lone dot line, 8-bit text, a long line. */
function message(client: string): string {
  return [
    'From: <alice@example.net>',
    'To: <bob@example.org>',
    `Subject: interop via ${client}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Sent by ${client}.`,
    '.a line that starts with a dot',
    '.',
    'straße, naïve, café',
    'y'.repeat(900),
    '',
  ].join('\r\n')
}

/** Runs a command, feeding `input`; resolves with stdout, stderr and the exit code. */
function run(command: string, args: string[], input = ''): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (text: Buffer) => (stdout += text.toString()))
    child.stderr.on('data', (text: Buffer) => (stderr += text.toString()))
    child.on('error', reject)
    child.on('exit', (code) => resolve({ stdout, stderr, code }))
    child.stdin.end(input)
  })
}

describe('interop matrix: real clients against the Maildir sample', function () {
  let sample: SampleServer
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smtpwire-matrix-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  beforeEach(async () => {
    sample = await SampleServer.start('--auth-user', `${USER}:${PASSWORD}`)
  })

  afterEach(async () => {
    await sample.stop()
  })

  /** The one stored message, checked against what was sent; returns its trace headers. */
  async function stored(sent: string): Promise<string> {
    const files = await sample.delivered()
    expect(files, 'one file in new/').to.have.length(1)
    const { trace, message: body } = splitTrace(files[0] as Buffer)
    expect(body.toString('utf8')).to.equal(sent)
    return trace
  }

  async function messageFile(client: string): Promise<string> {
    const path = join(dir, `${client.replace(/\W+/g, '-')}.eml`)
    await writeFile(path, message(client))
    return path
  }

  it('nodemailer (STARTTLS, AUTH PLAIN, pipelining)', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sample.port,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: USER, pass: PASSWORD },
    })
    await transport.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw: message('nodemailer') })
    transport.close()
    expect(await stored(message('nodemailer'))).to.match(/ with ESMTPSA id /)
  })

  it('Python smtplib, SMTP', async function (this: Mocha.Context) {
    requirePython(this)
    const script = [
      'import smtplib, sys',
      "with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as client:",
      "    client.sendmail('alice@example.net', ['bob@example.org'], bytes.fromhex(sys.argv[2]))",
    ].join('\n')
    await runPython(script, String(sample.port), Buffer.from(message('smtplib')).toString('hex'))
    expect(await stored(message('smtplib'))).to.match(/ with ESMTP id /)
  })

  it('Python smtplib.LMTP against --lmtp', async function (this: Mocha.Context) {
    requirePython(this)
    await sample.stop()
    sample = await SampleServer.start('--lmtp')
    const script = [
      'import smtplib, sys',
      "client = smtplib.LMTP('127.0.0.1', int(sys.argv[1]))",
      "client.sendmail('alice@example.net', ['bob@example.org'], bytes.fromhex(sys.argv[2]))",
      'client.quit()',
    ].join('\n')
    await runPython(script, String(sample.port), Buffer.from(message('smtplib LMTP')).toString('hex'))
    expect(await stored(message('smtplib LMTP'))).to.match(/ with LMTP id /)
  })

  const swaks: Array<[name: string, flags: string[], protocol: string]> = [
    ['plain', [], 'ESMTP'],
    ['STARTTLS', ['--tls'], 'ESMTPS'],
    ['STARTTLS and AUTH PLAIN', ['--tls', '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD], 'ESMTPSA'],
    ['STARTTLS and AUTH LOGIN', ['--tls', '--auth', 'LOGIN', '--auth-user', USER, '--auth-password', PASSWORD], 'ESMTPSA'],
  ]
  for (const [name, flags, protocol] of swaks) {
    it(`swaks, ${name}`, async function (this: Mocha.Context) {
      requireTool(this, 'swaks', 'apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl')
      const file = await messageFile(`swaks ${name}`)
      const { stdout, code } = await run('swaks', ['--server', `127.0.0.1:${sample.port}`, '--from', 'alice@example.net', '--to', 'bob@example.org', '--data', `@${file}`, ...flags])
      expect(code, stdout).to.equal(0)
      // swaks always sends a CRLF of its own before the final dot: the server keeps what it was sent.
      expect(await stored(`${message(`swaks ${name}`)}\r\n`)).to.match(new RegExp(` with ${protocol} id `))
    })
  }

  const curl: Array<[name: string, flags: string[], protocol: string]> = [
    ['smtp://', [], 'ESMTP'],
    ['smtp:// --ssl-reqd with AUTH', ['--ssl-reqd', '--insecure', '--user', `${USER}:${PASSWORD}`], 'ESMTPSA'],
  ]
  for (const [name, flags, protocol] of curl) {
    it(`curl, ${name}`, async function (this: Mocha.Context) {
      requireTool(this, 'curl', 'apt-get install curl')
      const file = await messageFile(`curl ${name}`)
      const { stderr, code } = await run('curl', [
        '--silent', '--show-error', '--url', `smtp://127.0.0.1:${sample.port}`,
        '--mail-from', 'alice@example.net', '--mail-rcpt', 'bob@example.org', '--upload-file', file, ...flags,
      ])
      expect(code, stderr).to.equal(0)
      expect(await stored(message(`curl ${name}`))).to.match(new RegExp(` with ${protocol} id `))
    })
  }

  it('openssl s_client -starttls smtp', async function (this: Mocha.Context) {
    requireTool(this, 'openssl', 'apt-get install openssl')
    // s_client sends what it reads with -crlf turning LF into CRLF, so the message is given with LF.
    const lf = (text: string): string => text.replace(/\r\n/g, '\n')
    const input = `EHLO client.test\nMAIL FROM:<alice@example.net>\nRCPT TO:<bob@example.org>\nDATA\n${lf(message('openssl')).replace(/^\./gm, '..')}.\nQUIT\n`
    const { stdout } = await run('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${sample.port}`, '-quiet', '-crlf', '-ign_eof'], input)
    expect(stdout).to.include('250 2.0.0 Message accepted')
    expect(await stored(message('openssl'))).to.match(/ with ESMTPS id /)
  })
})
