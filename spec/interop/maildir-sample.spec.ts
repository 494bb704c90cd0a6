import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import nodemailer from 'nodemailer'
import { requirePython, runPython } from '../helpers/python.js'
import { SAMPLE, SampleServer, splitTrace } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'

// A message with what trips servers up: a leading dot, a line of only dots, UTF-8, a long line.
const MESSAGE = [
  'From: Alice <alice@example.net>',
  'To: Bob <bob@example.org>',
  'Subject: interop =?UTF-8?B?w7xiZXI=?=',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Hello Bob,',
  '.a line that starts with a dot',
  '..',
  'über naïve café',
  'x'.repeat(900),
  '',
].join('\r\n')

describe('the Maildir sample flags', () => {
  it('refuses an unknown flag with one line on stderr and exit code 2', () => {
    const run = spawnSync(process.execPath, [SAMPLE, '--no-such-flag'], { encoding: 'utf8' })
    expect(run.status).to.equal(2)
    expect(run.stdout).to.equal('')
    expect(run.stderr.trim().split('\n')).to.have.length(1)
    expect(run.stderr).to.match(/^Unknown option '--no-such-flag'/)
  })

  it('listens with implicit TLS on --smtps-port, and offers neither STARTTLS nor AUTH with --no-starttls --no-auth', async () => {
    const secure = await SampleServer.start('--smtps-port', '0', '--auth-user', 'bob:builder')
    try {
      expect(secure.ports).to.have.length(2)
      const client = await SocketClient.connectTls(secure.ports[1] as number)
      expect(await client.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
      expect(await client.command('EHLO c.test')).to.match(/\n250 AUTH PLAIN LOGIN CRAM-MD5$/)
      expect(secure.log).to.not.include('AUTH user smtpwire')
      client.socket.destroy()
    } finally {
      await secure.stop()
    }
    const plain = await SampleServer.start('--no-starttls', '--no-auth')
    try {
      const client = await SocketClient.connect(plain.port)
      await client.read()
      const ehlo = await client.command('EHLO c.test')
      expect(ehlo).to.not.include('STARTTLS')
      expect(ehlo).to.not.include('AUTH')
      client.socket.destroy()
    } finally {
      await plain.stop()
    }
  })
})

describe('the Maildir sample (npm start) with real clients', function () {
  let sample: SampleServer

  beforeEach(async () => {
    sample = await SampleServer.start()
  })

  afterEach(async () => {
    await sample.stop()
  })

  it('stores exactly what nodemailer sent, after the trace headers', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sample.port, secure: false, ignoreTLS: true })
    const info = await transport.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw: MESSAGE })
    transport.close()
    expect(info.response).to.equal('250 2.0.0 Message accepted')
    const files = await sample.delivered()
    expect(files).to.have.length(1)
    const { trace, message } = splitTrace(files[0] as Buffer)
    expect(message.toString('utf8')).to.equal(MESSAGE)
    expect(trace).to.match(/^Return-Path: <alice@example\.net>\r\nReceived: from \S+ \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.test \(smtpwire\) with ESMTP id /)
    expect(trace).to.include('\tfor <bob@example.org>;')
  })

  it('stores exactly what Python smtplib sent', async function (this: Mocha.Context) {
    requirePython(this)
    const script = [
      'import smtplib, sys',
      'message = bytes.fromhex(sys.argv[2])',
      "with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as client:",
      "    refused = client.sendmail('alice@example.net', ['bob@example.org', 'carol@example.org'], message)",
      "    print('refused', refused)",
    ].join('\n')
    const output = await runPython(script, String(sample.port), Buffer.from(MESSAGE).toString('hex'))
    expect(output.trim()).to.equal('refused {}')
    const files = await sample.delivered()
    expect(files).to.have.length(1)
    const { trace, message } = splitTrace(files[0] as Buffer)
    expect(message.toString('utf8')).to.equal(MESSAGE)
    // two recipients: the Received header names none of them (RFC 5321 §7.2)
    expect(trace).to.not.include('\tfor <')
  })

  it('leaves nothing behind for a message cut off mid-DATA', async () => {
    const client = await SocketClient.connect(sample.port)
    await client.read()
    client.write('EHLO client.test', 'MAIL FROM:<a@b.test>', 'RCPT TO:<c@d.test>', 'DATA', 'Subject: cut', '', 'partial')
    await client.read(4)
    client.socket.destroy()
    await sample.waitFor(/discarded an unfinished message \(closed\)/)
    expect(await sample.delivered()).to.deep.equal([])
    expect(await sample.unfinished()).to.deep.equal([])
  })

  it('offers STARTTLS with a self-signed certificate and AUTH for a printed user by default', async () => {
    // The notices follow the listening line, which start() waited for.
    await sample.waitFor(/AUTH user smtpwire, password \S+/)
    const password = /AUTH user smtpwire, password (\S+)/.exec(sample.log)?.[1]
    expect(sample.log).to.include('TLS with a self-signed certificate for mx.test, localhost, 127.0.0.1, ::1')
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sample.port,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'smtpwire', pass: password },
    })
    const info = await transport.sendMail({ envelope: { from: 'a@b.test', to: ['c@d.test'] }, raw: 'Subject: tls\r\n\r\nsecure\r\n' })
    transport.close()
    expect(info.response).to.equal('250 2.0.0 Message accepted')
    const [file] = await sample.delivered()
    expect(splitTrace(file as Buffer).trace).to.match(/ with ESMTPSA id /)
  })

  it('exits 0 on SIGTERM', async () => {
    expect(await sample.stop('SIGTERM')).to.equal(0)
    expect(sample.log).to.include('SIGTERM: finishing open sessions, then exiting')
  })
})
