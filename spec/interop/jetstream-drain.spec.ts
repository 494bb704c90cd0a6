// The JetStream front end's graceful stop behind HAProxy (issue 14): with --health-port, SIGTERM
// first drains: health checks are refused with 421 while client sessions are served as before,
// and after --drain-checks refusals it closes (421 to idle sessions) and exits 0. The health
// checks here are driven by hand on a socket, as HAProxy's `option smtpchk` makes them, so every
// step waits for a reply or a log line, not for time. spec/scale/ runs it under real HAProxy.

import { expect } from 'chai'
import { requireTool } from '../helpers/external-tools.js'
import { NATS_INSTALL, readStream, removeScratch, scratch, startNatsServer } from '../helpers/jetstream.js'
import { SocketClient } from '../helpers/socket-client.js'
import { FrontEnd, type Child } from '../../samples/scale/topology.js'

const BODY = ['From: Alice <alice@example.net>', 'To: Bob <bob@example.org>', 'Subject: while draining', '', 'Hello.', ''].join('\r\n')
const REFUSED = '421 Draining for shutdown, try another server'
const SHUTDOWN = '421 4.3.2 Service shutting down, closing connection'

/** A client session as HAProxy relays one: PROXY v1 header, greeting, EHLO. */
async function clientSession(port: number): Promise<SocketClient> {
  const smtp = await SocketClient.connect(port)
  smtp.socket.write('PROXY TCP4 192.0.2.60 127.0.0.1 50123 25\r\n')
  expect(await smtp.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
  expect(await smtp.command('EHLO c.test')).to.match(/^250-mx\.test/)
  return smtp
}

/** One message in an open session; returns the final reply. */
async function sendMessage(smtp: SocketClient): Promise<string> {
  expect(await smtp.command('MAIL FROM:<alice@example.net>')).to.equal('250 2.1.0 Sender OK')
  expect(await smtp.command('RCPT TO:<bob@example.org>')).to.match(/^250 /)
  expect(await smtp.command('DATA')).to.match(/^354 /)
  return smtp.command(`${BODY}.`)
}

/** One health check refused while draining: the 421 greeting, then the connection closes. */
async function refusedCheck(healthPort: number): Promise<void> {
  const check = await SocketClient.connect(healthPort)
  expect(await check.read()).to.deep.equal([REFUSED])
  await check.ended()
}

describe('the JetStream front end draining itself on SIGTERM (--health-port, issue 14)', function () {
  let dir = ''
  let nats: { child: Child; url: string }
  const started: FrontEnd[] = []

  const start = async (...flags: string[]): Promise<FrontEnd> => {
    const frontEnd = await FrontEnd.start('front end', 0, ['--nats', nats.url, '--domain', 'mx.test', '--proxy-protocol', '--log-level', 'info', ...flags])
    started.push(frontEnd)
    return frontEnd
  }

  before(async function (this: Mocha.Context) {
    requireTool(this, 'nats-server', NATS_INSTALL)
    dir = await scratch('drain')
    nats = await startNatsServer(dir, 1024 * 1024)
  })

  after(async () => {
    await Promise.all(started.map((frontEnd) => frontEnd.child.stop('SIGKILL')))
    await nats?.child.stop()
    if (dir) await removeScratch(dir)
  })

  it('answers a health check as smtpchk expects (220, EHLO 250) and takes no mail on the health port', async () => {
    const frontEnd = await start('--health-port', '0')
    const check = await SocketClient.connect(frontEnd.healthPort)
    expect(await check.read()).to.deep.equal(['220 mx.test ESMTP smtpwire'])
    expect(await check.command('EHLO haproxy.check')).to.match(/^250-mx\.test/)
    expect(await check.command('MAIL FROM:<alice@example.net>')).to.equal('550 5.7.1 This port answers health checks only')
    expect(await check.command('QUIT')).to.match(/^221 /)
    await check.ended()
    expect((await frontEnd.child.stop('SIGKILL')).signal).to.equal('SIGKILL')
  })

  it('refuses health checks after SIGTERM, still serves clients, and exits 0 after --drain-checks refusals with no client since the last', async () => {
    const frontEnd = await start('--health-port', '0', '--drain-checks', '2', '--drain-timeout', '600')
    const before = (await readStream([nats.url], 'MAIL')).length
    // Open before the SIGTERM and idle through the drain, as a session HAProxy already relayed.
    const idle = await clientSession(frontEnd.port)
    frontEnd.child.process.kill('SIGTERM')
    await frontEnd.child.waitFor(/SIGTERM: draining, refusing health checks until 2 were refused/)

    await refusedCheck(frontEnd.healthPort)
    // One refusal of two: it is still up, and a client connecting now is served in full.
    expect(frontEnd.child.running).to.equal(true)
    const late = await clientSession(frontEnd.port)
    expect(await sendMessage(late)).to.equal('250 2.0.0 Message accepted')
    expect(await late.command('QUIT')).to.match(/^221 /)
    await late.ended()
    expect(await sendMessage(idle)).to.equal('250 2.0.0 Message accepted')

    // Two refusals, but a client session started since the first (as one HAProxy routed here just
    // before taking the server out, accepted late): it waits for one more check.
    await refusedCheck(frontEnd.healthPort)
    // Not closed: the idle session is still served (a close would have sent it the shutdown 421).
    expect(await idle.command('NOOP')).to.equal('250 2.0.0 OK')
    await refusedCheck(frontEnd.healthPort)
    // No client since the previous refusal: the drain ends, the idle session gets the shutdown 421,
    // and the process exits 0.
    expect(await idle.read()).to.deep.equal([SHUTDOWN])
    await idle.ended()
    expect(await frontEnd.child.exit).to.deep.equal({ code: 0, signal: null })
    expect(frontEnd.child.log).to.match(/draining: refused 3 health checks, closing/)
    const records = await readStream([nats.url], 'MAIL')
    expect(records.length - before).to.equal(2)
  })

  it('exits 0 once --drain-timeout has passed when nothing checks it', async () => {
    const frontEnd = await start('--health-port', '0', '--drain-checks', '3', '--drain-timeout', '1')
    const idle = await clientSession(frontEnd.port)
    frontEnd.child.process.kill('SIGTERM')
    expect(await idle.read()).to.deep.equal([SHUTDOWN])
    expect(await frontEnd.child.exit).to.deep.equal({ code: 0, signal: null })
    expect(frontEnd.child.log).to.match(/draining: 0 of 3 health checks refused after 1000 ms, closing anyway/)
  })

  it('exits at once (1) on a second SIGTERM while draining', async () => {
    const frontEnd = await start('--health-port', '0', '--drain-timeout', '600')
    frontEnd.child.process.kill('SIGTERM')
    await frontEnd.child.waitFor(/SIGTERM: draining/)
    frontEnd.child.process.kill('SIGTERM')
    expect(await frontEnd.child.exit).to.deep.equal({ code: 1, signal: null })
    expect(frontEnd.child.log).to.match(/SIGTERM again: exiting now/)
  })

  it('closes at once on SIGTERM without --health-port (no balancer to drain from)', async () => {
    const frontEnd = await start()
    const idle = await clientSession(frontEnd.port)
    frontEnd.child.process.kill('SIGTERM')
    expect(await idle.read()).to.deep.equal([SHUTDOWN])
    expect(await frontEnd.child.exit).to.deep.equal({ code: 0, signal: null })
    expect(frontEnd.child.log).not.to.match(/draining/)
  })
})
