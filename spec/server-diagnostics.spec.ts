// The diagnostics_channel payloads of SmtpServer over real sockets: connections opened and closed
// (with each reason), STARTTLS and implicit-TLS handshakes, done and failed.

import { expect } from 'chai'
import net from 'node:net'
import { createSelfSignedCertificate } from '../lib/certificate.js'
import type { SmtpProtocol } from '../lib/protocol.js'
import { SmtpServer, type SmtpServerOptions } from '../lib/server.js'
import { DiagnosticsRecorder, summary, type Published } from './helpers/diagnostics-recorder.js'
import { SocketClient } from './helpers/socket-client.js'

const CERT = createSelfSignedCertificate({ altNames: ['mx.test', 'localhost', '127.0.0.1'] })
const LIFECYCLE = new Set(['smtpwire:connection:open', 'smtpwire:connection:close', 'smtpwire:tls:handshake'])

describe('SmtpServer diagnostics channels', () => {
  let server: SmtpServer | null = null
  let recorder: DiagnosticsRecorder | null = null
  let sessions: SmtpProtocol[] = []
  let ports = new Set<number>()

  afterEach(async () => {
    await server?.close()
    recorder?.stop()
    server = null
    recorder = null
    sessions = []
    ports = new Set()
  })

  async function start(options: Partial<SmtpServerOptions> = {}): Promise<{ port: number; securePort: number }> {
    server = new SmtpServer({ domain: 'mx.test', tls: { key: CERT.key, cert: CERT.cert }, ...options }, (smtp) => void sessions.push(smtp))
    const { port } = await server.listen(0, '127.0.0.1')
    const { port: securePort } = await server.listen(0, '127.0.0.1', { secure: true })
    ports = new Set([port, securePort])
    // This server's sessions, and implicit-TLS handshakes (no session yet: told apart by client port below).
    recorder = new DiagnosticsRecorder(({ channel, payload }) => {
      const session = payload.session as { localPort: number } | null
      return LIFECYCLE.has(channel) && (session ? ports.has(session.localPort) : true)
    })
    return { port, securePort }
  }

  /** What was recorded for the connection from `clientPort`. */
  function of(clientPort: number): Published[] {
    return (recorder?.published ?? []).filter(({ payload }) => {
      const session = payload.session as { remotePort: number } | null
      return (session?.remotePort ?? payload.remotePort) === clientPort
    })
  }

  it('publishes open, the STARTTLS handshake with what was negotiated, and close after QUIT', async () => {
    const { port } = await start()
    const client = await SocketClient.connect(port)
    const clientPort = client.socket.localPort ?? 0
    await client.read()
    await client.command('EHLO c.test')
    expect(await client.command('STARTTLS')).to.equal('220 2.0.0 Ready to start TLS')
    await client.upgrade({ servername: 'localhost' })
    await client.command('EHLO c.test')
    expect(await client.command('QUIT')).to.match(/^221 /)
    await client.ended()
    const session = sessions[0]?.session
    const tls = session?.tls
    expect(tls?.protocol).to.match(/^TLSv1\.[23]$/)
    expect(tls).to.include({ servername: 'localhost', implicit: false })
    expect(summary(of(clientPort), session)).to.deep.equal([
      ['smtpwire:connection:open', { session: 'session' }],
      [
        'smtpwire:tls:handshake',
        { session: 'session', remoteAddress: '127.0.0.1', remotePort: clientPort, implicit: false, tls, error: null, duration: 'ms' },
      ],
      ['smtpwire:connection:close', { session: 'session', reason: 'quit', aborted: false, duration: 'ms' }],
    ])
    expect(of(clientPort)[0]?.payload.session).to.include({ remoteAddress: '127.0.0.1', remotePort: clientPort, localPort: port })
  })

  it('publishes an implicit-TLS handshake before the session opens, with no session yet', async () => {
    const { securePort } = await start()
    const client = await SocketClient.connectTls(securePort, { servername: 'localhost' })
    const clientPort = client.socket.localPort ?? 0
    await client.read()
    await client.command('QUIT')
    await client.ended()
    const session = sessions[0]?.session
    expect(session?.tls).to.include({ implicit: true })
    expect(summary(of(clientPort), session)).to.deep.equal([
      [
        'smtpwire:tls:handshake',
        { session: null, remoteAddress: '127.0.0.1', remotePort: clientPort, implicit: true, tls: session?.tls, error: null, duration: 'ms' },
      ],
      ['smtpwire:connection:open', { session: 'session' }],
      ['smtpwire:connection:close', { session: 'session', reason: 'quit', aborted: false, duration: 'ms' }],
    ])
  })

  it('publishes a failed implicit-TLS handshake with its error, and no session', async () => {
    const { securePort } = await start()
    const socket = net.connect(securePort, '127.0.0.1')
    socket.on('error', () => undefined)
    await new Promise((resolve) => socket.once('connect', resolve))
    const clientPort = socket.localPort ?? 0
    socket.write('EHLO plaintext.test\r\n')
    await recorder?.waitFor(({ channel, payload }) => channel === 'smtpwire:tls:handshake' && payload.remotePort === clientPort)
    socket.destroy()
    const [entry, ...rest] = summary(of(clientPort), null)
    expect(rest).to.deep.equal([])
    const [channel, payload] = entry ?? []
    expect(channel).to.equal('smtpwire:tls:handshake')
    expect(payload).to.deep.include({ session: null, remoteAddress: '127.0.0.1', remotePort: clientPort, implicit: true, tls: null, duration: 'ms' })
    expect(payload?.error).to.match(/^TLS handshake failed: /)
    expect(sessions).to.have.length(0)
  })

  it('gives the reason a connection closed: the peer left, a timeout, a shutdown', async () => {
    const { port } = await start()
    // Only this listener's sessions time out, so the others cannot, however slow the machine.
    const { port: hastyPort } = (await server?.listen(0, '127.0.0.1', { options: { commandTimeout: 200 } })) ?? { port: 0 }
    ports.add(hastyPort)
    const leaving = await SocketClient.connect(port)
    const leavingPort = leaving.socket.localPort ?? 0
    await leaving.read()
    await leaving.command('EHLO c.test')
    leaving.write('MAIL FROM:<a@b.test>')
    await leaving.read()
    leaving.socket.destroy()
    const idle = await SocketClient.connect(hastyPort)
    const idlePort = idle.socket.localPort ?? 0
    await idle.read()
    expect((await idle.read())[0]).to.match(/^421 /)
    const staying = await SocketClient.connect(port)
    const stayingPort = staying.socket.localPort ?? 0
    await staying.read()
    await recorder?.waitFor(({ channel, payload }) => channel === 'smtpwire:connection:close' && (payload.session as { remotePort: number }).remotePort === leavingPort)
    await server?.close()
    const close = (clientPort: number): unknown => {
      const entry = of(clientPort).find(({ channel }) => channel === 'smtpwire:connection:close')
      return entry && { reason: entry.payload.reason, aborted: entry.payload.aborted }
    }
    expect(close(leavingPort)).to.deep.equal({ reason: 'peer', aborted: true })
    expect(close(idlePort)).to.deep.equal({ reason: 'timeout', aborted: false })
    expect(close(stayingPort)).to.deep.equal({ reason: 'shutdown', aborted: false })
  })
})
