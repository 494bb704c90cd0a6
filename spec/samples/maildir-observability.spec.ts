// The Maildir sample's observability flags: --metrics-port serves Prometheus text counted from the
// diagnostics channels (checked after real mail, an AUTH failure and a refused message), and
// --log-format json writes one JSON object per line.

import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'
import { SampleServer, splitTrace } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'

const SAMPLE = fileURLToPath(new URL('../../samples/maildir-server.js', import.meta.url))
const MESSAGE = ['From: alice@example.net', 'To: bob@example.org', 'Subject: metrics', '', 'Counted, not read.', ''].join('\r\n')

/** Prometheus text as `name{label="value",…}` (labels sorted) → value. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) continue
    const labels = (match[2] ?? '').split(',').filter(Boolean).sort().join(',')
    values.set(`${match[1]}{${labels}}`, Number(match[3]))
  }
  return values
}

/** `name{k="v",…}` as parseMetrics keys it. */
function key(name: string, labels: Record<string, string> = {}): string {
  return `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`
}

describe('the Maildir sample, observed', () => {
  let sample: SampleServer | null = null

  afterEach(async () => {
    await sample?.stop()
    sample = null
  })

  it('serves no metrics unless --metrics-port is given, as --help says', async () => {
    sample = await SampleServer.start()
    expect(sample.log).to.not.include('metrics')
    const help = spawnSync(process.execPath, [SAMPLE, '--help'], { encoding: 'utf8' }).stdout
    expect(help).to.match(/--metrics-port <port> +serve Prometheus metrics at http:\/\/HOST:PORT\/metrics \(off unless given; 0: any free port\)\n/)
    expect(help).to.match(/--metrics-host <host> +address for --metrics-port \(default 127\.0\.0\.1\)\n/)
    expect(help).to.match(/--log-format <format> +text, or json: .* \(default text\)\n/)
  })

  it('refuses a bad --log-format or --metrics-port with a message, not a stack trace', () => {
    const run = (...flags: string[]): { status: number | null; stderr: string } =>
      spawnSync(process.execPath, [SAMPLE, '--port', '0', '--maildir', join(tmpdir(), 'smtpwire-unused'), ...flags], { encoding: 'utf8' })
    expect(run('--log-format', 'xml')).to.include({ status: 1, stderr: '--log-format must be text or json, got xml\n' })
    expect(run('--metrics-port', 'nine')).to.include({ status: 1, stderr: '--metrics-port must be a whole number, got nine\n' })
  })

  it('serves Prometheus metrics on --metrics-port, counted from real mail, an AUTH failure and a refused message', async () => {
    sample = await SampleServer.start('--metrics-port', '0', '--auth-user', 'alice:secret', '--max-message-size', '1000')
    await sample.waitFor(/smtpwire metrics on \S+:\d+\n/)
    const log = sample.log
    expect(log.indexOf('smtpwire listening on')).to.be.lessThan(log.indexOf('smtpwire metrics on'))
    const [, host, port] = /smtpwire metrics on (\S+):(\d+)/.exec(log) ?? []
    expect(host).to.equal('127.0.0.1')
    const scrape = async (): Promise<Map<string, number>> => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`)
      expect(response.status).to.equal(200)
      expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/)
      return parseMetrics(await response.text())
    }
    const before = await scrape()
    expect(before.get(key('smtpwire_connections_total'))).to.equal(0)
    expect(before.get(key('smtpwire_messages_total', { result: 'failed' }))).to.equal(0)

    const tls = { rejectUnauthorized: false }
    const good = nodemailer.createTransport({ host: '127.0.0.1', port: sample.port, auth: { user: 'alice', pass: 'secret' }, tls })
    const info = await good.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw: MESSAGE })
    good.close()
    expect(info.response).to.equal('250 2.0.0 Message accepted')
    const bad = nodemailer.createTransport({ host: '127.0.0.1', port: sample.port, auth: { user: 'alice', pass: 'wrong' }, tls })
    const refusedAuth = await bad.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw: MESSAGE }).catch((error: unknown) => error)
    bad.close()
    expect((refusedAuth as { code?: string }).code).to.equal('EAUTH')

    const client = await SocketClient.connect(sample.port)
    await client.read()
    await client.command('EHLO c.test')
    await client.command('MAIL FROM:<alice@example.net>')
    await client.command('RCPT TO:<bob@example.org>')
    expect(await client.command('DATA')).to.match(/^354 /)
    expect(await client.command(`${'x'.repeat(600)}\r\n${'y'.repeat(600)}\r\n.`)).to.equal('552 5.3.4 Message size exceeds fixed maximum message size')
    expect(await client.command('QUIT')).to.match(/^221 /)
    await client.ended()
    // Every session has logged its end (and so was counted: the close is published after that line).
    await sample.waitFor(/closed \S+ \([^]*closed \S+ \([^]*closed \S+ \(/)

    const [file] = await sample.delivered()
    const size = splitTrace(file as Buffer).message.length
    const after = await scrape()
    const value = (name: string, labels?: Record<string, string>): number | undefined => after.get(key(name, labels))
    expect(value('smtpwire_connections_total')).to.equal(3)
    expect(value('smtpwire_connections_open')).to.equal(0)
    expect(value('smtpwire_messages_total', { result: 'accepted' })).to.equal(1)
    expect(value('smtpwire_messages_total', { result: 'refused' })).to.equal(1)
    expect(value('smtpwire_messages_total', { result: 'failed' })).to.equal(0)
    expect(value('smtpwire_message_bytes_total')).to.equal(size)
    expect(value('smtpwire_auth_failures_total')).to.equal(1)
    expect(value('smtpwire_replies_total', { code: '235' })).to.equal(1)
    expect(value('smtpwire_replies_total', { code: '535' })).to.equal(1)
    expect(value('smtpwire_replies_total', { code: '552' })).to.equal(1)
    expect(value('smtpwire_replies_total', { code: '354' })).to.equal(2)
    expect(value('smtpwire_tls_handshakes_total', { mode: 'starttls', result: 'ok' })).to.equal(2)
    expect(value('smtpwire_command_duration_seconds_count', { verb: 'DATA' })).to.equal(2)
    expect(value('smtpwire_command_duration_seconds_count', { verb: 'AUTH' })).to.equal(2)
    expect(value('smtpwire_command_duration_seconds_bucket', { verb: 'MAIL', le: '+Inf' })).to.equal(2)
    expect(value('smtpwire_command_duration_seconds_count', { verb: 'QUIT' })).to.be.at.least(1)
    expect(value('smtpwire_connections_closed_total', { reason: 'quit' })).to.be.at.least(1)
    expect(value('smtpwire_listener_decision_duration_seconds_count', { event: 'auth' })).to.equal(2)
    expect(value('smtpwire_listener_decision_duration_seconds_count', { event: 'message' })).to.equal(1)

    const missing = await fetch(`http://127.0.0.1:${port}/other`)
    expect(missing.status).to.equal(404)
  })

  it('writes one JSON object per log line with --log-format json, the listening line plain', async () => {
    sample = await SampleServer.start('--log-format', 'json', '--auth-user', 'alice:secret')
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sample.port, ignoreTLS: true })
    await transport.sendMail({ envelope: { from: 'alice@example.net', to: ['bob@example.org'] }, raw: MESSAGE })
    transport.close()
    await sample.waitFor(/closed \S+ \(/)
    await sample.stop()
    const lines = sample.log.trimEnd().split('\n')
    const listening = lines.findIndex((line) => line.startsWith('smtpwire listening on '))
    expect(lines[listening]).to.match(/^smtpwire listening on 127\.0\.0\.1:\d+$/)
    const others = lines.filter((_, index) => index !== listening)
    expect(others.length).to.be.greaterThan(5)
    const records = others.map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const record of records) {
      expect(record.time).to.be.a('string').and.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(record.level).to.be.oneOf(['debug', 'info', 'warn', 'error'])
      expect(record.message).to.be.a('string').and.not.match(/^\[/)
    }
    const connection = records.find((record) => String(record.message).startsWith('connection from 127.0.0.1:'))
    const sessionId = connection?.session
    expect(sessionId).to.be.a('string')
    expect(connection?.client).to.equal(String(connection?.message).slice('connection from '.length))
    const ofSession = records.filter((record) => record.session === sessionId)
    expect(ofSession.map((record) => String(record.message).split(' ')[0])).to.include.members(['connection', 'message', 'stored', 'closed'])
    for (const record of ofSession) expect(record.client).to.equal(connection?.client)
    // Lines about no session carry no session fields.
    const listeningLog = records.find((record) => String(record.message).startsWith('listening on '))
    expect(listeningLog).to.not.have.property('session')
    expect(listeningLog).to.not.have.property('client')
  })
})
