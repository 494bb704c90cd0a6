// The JetStream samples (npm run start:jetstream, npm run deliver:jetstream) against a real
// nats-server with JetStream: the record's bytes and headers, big bodies in the object store,
// the Maildir the consumer writes, and 451 when the broker is gone (issue 14).

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { requireTool } from '../helpers/external-tools.js'
import { maildirFiles, NATS_INSTALL, readObject, readStream, removeScratch, scratch, startNatsServer, type StoredRecord } from '../helpers/jetstream.js'
import { SampleServer } from '../helpers/sample-server.js'
import { SocketClient } from '../helpers/socket-client.js'
import { FrontEnd, runConsumer, type Child } from '../../samples/scale/topology.js'

// Small enough that a 200 kB message must go to the object store.
const MAX_PAYLOAD = 64 * 1024
const BODY = ['From: Alice <alice@example.net>', 'To: Bob <bob@example.org>', 'Subject: queued', '', 'Hello,', '.a line that starts with a dot', '..', 'über', ''].join('\r\n')
const BIG_BODY = `Subject: big\r\n\r\n${'0123456789abcdef'.repeat(62).concat('\r\n').repeat(200)}`

/** Sends one message through `port` as if relayed by a proxy for `client`; returns the final reply. */
async function send(port: number, client: string, body: string, recipients: readonly string[]): Promise<string> {
  const smtp = await SocketClient.connect(port)
  smtp.socket.write(`PROXY TCP4 ${client} 127.0.0.1 50123 25\r\n`)
  await smtp.read()
  await smtp.command('EHLO c.test')
  await smtp.command('MAIL FROM:<alice@example.net>')
  for (const rcpt of recipients) await smtp.command(`RCPT TO:<${rcpt}>`)
  await smtp.command('DATA')
  // Dot-stuffing on the way in; the server unstuffs, so the record holds BODY as written.
  const stuffed = body.replace(/^\./gm, '..')
  const reply = await smtp.command(`${stuffed}.`)
  smtp.write('QUIT')
  await smtp.ended()
  return reply
}

function header(record: StoredRecord, name: string): readonly string[] {
  return record.headers.get(name) ?? []
}

/** The trace headers at the start of a stored message and the rest. */
function splitRecord(bytes: Buffer): { trace: string; id: string; message: string } {
  const text = bytes.toString('utf8')
  const match = /^Return-Path: <[^>]*>\r\nReceived: [^\r]*\r\n(?:\t[^\r]*\r\n)*/.exec(text)
  if (!match) throw new Error(`no trace headers at the start of ${JSON.stringify(text.slice(0, 200))}`)
  return { trace: match[0], id: /\bid ([^\s;]+)/.exec(match[0])?.[1] ?? '', message: text.slice(match[0].length) }
}

describe('the JetStream samples (issue 14)', function () {
  let dir = ''
  let nats: { child: Child; url: string }
  let frontEnd: FrontEnd

  before(async function (this: Mocha.Context) {
    requireTool(this, 'nats-server', NATS_INSTALL)
    dir = await scratch('jetstream')
    nats = await startNatsServer(dir, MAX_PAYLOAD)
    frontEnd = await FrontEnd.start('front end', 0, ['--nats', nats.url, '--domain', 'mx.test', '--proxy-protocol', '--publish-timeout', '1', '--log-level', 'warn'])
  })

  after(async () => {
    await frontEnd?.child.stop()
    await nats?.child.stop()
    if (dir) await removeScratch(dir)
  })

  it('lists its flags with --help', () => {
    const run = (script: string): string =>
      spawnSync(process.execPath, [fileURLToPath(new URL(`../../samples/${script}`, import.meta.url)), '--help'], { encoding: 'utf8' }).stdout
    const server = run('jetstream-server.js')
    for (const flag of ['--nats', '--stream', '--subject', '--replicas', '--object-bucket', '--publish-timeout', '--proxy-protocol', '--health-port', '--drain-checks', '--drain-timeout']) expect(server).to.include(flag)
    const consumer = run('jetstream-deliver.js')
    for (const flag of ['--maildir', '--durable', '--batch', '--until-empty', '--nats']) expect(consumer).to.include(flag)
  })

  it('answers 250 once the stream has the Maildir sample bytes, with the envelope in headers and the PROXY client in Received', async () => {
    expect(await send(frontEnd.port, '192.0.2.44', BODY, ['bob@example.org', 'carol@example.org'])).to.equal('250 2.0.0 Message accepted')
    const record = (await readStream([nats.url], 'MAIL')).at(-1)
    if (!record) throw new Error('the stream is empty')
    const { trace, id, message } = splitRecord(record.data)
    expect(message).to.equal(BODY)
    expect(trace).to.match(/^Return-Path: <alice@example\.net>\r\nReceived: from c\.test \(unknown \[192\.0\.2\.44\]\)\r\n\tby mx\.test \(smtpwire\) with ESMTP id \S+;\r\n\t.+ \+0000\r\n$/)
    expect(header(record, 'Nats-Msg-Id')).to.deep.equal([id])
    expect(header(record, 'Smtp-Mail-From')).to.deep.equal(['<alice@example.net>'])
    expect(header(record, 'Smtp-Rcpt-To')).to.deep.equal(['<bob@example.org>', '<carol@example.org>'])
    expect(header(record, 'Smtp-Client-Address')).to.deep.equal(['192.0.2.44'])
    expect(header(record, 'Smtp-Body-Object')).to.deep.equal([])

    // The Maildir sample, sent the same, stores the same bytes but for its own id and date.
    const maildir = await SampleServer.start('--proxy-protocol', '--no-starttls', '--no-auth', '--quiet')
    try {
      expect(await send(maildir.port, '192.0.2.44', BODY, ['bob@example.org', 'carol@example.org'])).to.equal('250 2.0.0 Message accepted')
      const [stored] = await maildir.delivered()
      const normalise = (bytes: Buffer): string => bytes.toString('utf8').replace(/ id \S+;/, ' id X;').replace(/\t[^\r]*\+0000\r\n/, '\tDATE\r\n')
      expect(normalise(record.data)).to.equal(normalise(stored ?? Buffer.alloc(0)))
    } finally {
      await maildir.stop()
    }
  })

  it('puts a message bigger than max_payload in the object store and publishes an empty record naming it', async () => {
    expect(await send(frontEnd.port, '198.51.100.7', BIG_BODY, ['bob@example.org'])).to.equal('250 2.0.0 Message accepted')
    const record = (await readStream([nats.url], 'MAIL')).at(-1)
    if (!record) throw new Error('the stream is empty')
    expect(record.data.length).to.equal(0)
    const [id] = header(record, 'Nats-Msg-Id')
    expect(header(record, 'Smtp-Body-Object')).to.deep.equal([`MAIL_BODIES/${id ?? ''}`])
    expect(header(record, 'Smtp-Client-Address')).to.deep.equal(['198.51.100.7'])
    const object = await readObject([nats.url], 'MAIL_BODIES', id ?? '')
    if (!object) throw new Error(`no object ${id ?? ''}`)
    const { trace, message } = splitRecord(object)
    expect(message).to.equal(BIG_BODY)
    expect(trace).to.include(`id ${id ?? ''}\r\n\tfor <bob@example.org>;`)
    expect(trace).to.include('(unknown [198.51.100.7])')
  })

  it('delivers every record into the Maildir with exactly its bytes, fetching object-store bodies, and acks them all', async () => {
    const records = await readStream([nats.url], 'MAIL')
    expect(records).to.have.length(2)
    const expected: string[] = []
    for (const record of records) {
      const [reference] = header(record, 'Smtp-Body-Object')
      const bytes = reference ? await readObject([nats.url], 'MAIL_BODIES', reference.split('/')[1] ?? '') : record.data
      expected.push((bytes ?? Buffer.alloc(0)).toString('base64'))
    }
    const maildir = `${dir}/maildir`
    await runConsumer(['--nats', nats.url, '--maildir', maildir, '--log-level', 'warn'])
    const files = (await maildirFiles(maildir)).map((file) => file.toString('base64'))
    expect(files.sort()).to.deep.equal(expected.sort())
    // Everything was acknowledged: a second run finds nothing to deliver.
    await runConsumer(['--nats', nats.url, '--maildir', maildir, '--log-level', 'warn'])
    expect(await maildirFiles(maildir)).to.have.length(2)
  })

  it('stores a message once when its publish was stored but not acknowledged in time and is retried (same Nats-Msg-Id)', async () => {
    const patient = await FrontEnd.start('patient front end', 0, ['--nats', nats.url, '--domain', 'mx.test', '--proxy-protocol', '--publish-timeout', '30', '--log-level', 'warn'])
    try {
      const before = (await readStream([nats.url], 'MAIL')).length
      const smtp = await SocketClient.connect(patient.port)
      smtp.socket.write('PROXY TCP4 192.0.2.45 127.0.0.1 50123 25\r\n')
      await smtp.read()
      await smtp.command('EHLO c.test')
      await smtp.command('MAIL FROM:<alice@example.net>')
      await smtp.command('RCPT TO:<bob@example.org>')
      expect(await smtp.command('DATA')).to.match(/^354 /)
      // A broker that stops answering: the first publish waits in its socket and gets no ack in time.
      nats.child.process.kill('SIGSTOP')
      smtp.write(`${BODY.replace(/^\./gm, '..')}.`)
      const reply = smtp.read()
      await patient.child.waitFor(/publish attempt 1 not acknowledged/)
      // Back: it stores the first attempt, and the retry (same Nats-Msg-Id) is a duplicate it acks.
      nats.child.process.kill('SIGCONT')
      expect(await reply).to.deep.equal(['250 2.0.0 Message accepted'])
      smtp.write('QUIT')
      await smtp.ended()
      const records = await readStream([nats.url], 'MAIL')
      expect(records.length - before).to.equal(1)
      const record = records.at(-1)
      if (!record) throw new Error('the stream is empty')
      expect(header(record, 'Nats-Msg-Id')).to.deep.equal([splitRecord(record.data).id])
      expect(header(record, 'Smtp-Client-Address')).to.deep.equal(['192.0.2.45'])
    } finally {
      nats.child.process.kill('SIGCONT')
      await patient.child.stop()
    }
  })

  it('answers 451 4.3.0 when the broker does not acknowledge, and the session goes on', async () => {
    await nats.child.stop('SIGKILL')
    const smtp = await SocketClient.connect(frontEnd.port)
    smtp.socket.write('PROXY TCP4 192.0.2.44 127.0.0.1 50123 25\r\n')
    await smtp.read()
    await smtp.command('EHLO c.test')
    await smtp.command('MAIL FROM:<alice@example.net>')
    await smtp.command('RCPT TO:<bob@example.org>')
    await smtp.command('DATA')
    expect(await smtp.command(`${BODY}.`)).to.equal('451 4.3.0 Could not hand the message to the queue, try again later')
    expect(await smtp.command('MAIL FROM:<alice@example.net>')).to.equal('250 2.1.0 Sender OK')
    smtp.write('QUIT')
    await smtp.ended()
  })
})
