// Issue #11, item 3: the STARTTLS and implicit-TLS sockets refuse client renegotiation (TLS 1.2),
// and a connection whose TLS layer fails after the handshake is closed at once, not at the next
// timeout. Over real sockets, with Node's TLS client and with `openssl s_client`.

import { expect } from 'chai'
import { spawn } from 'node:child_process'
import net from 'node:net'
import tls from 'node:tls'
import { createSelfSignedCertificate } from '../../lib/certificate.js'
import type { CloseReason } from '../../lib/events.js'
import { SmtpServer } from '../../lib/server.js'
import { requireTool } from '../helpers/external-tools.js'
import { deferred } from '../helpers/ladder.js'

const { key, cert } = createSelfSignedCertificate({ altNames: ['localhost', '127.0.0.1'] })

interface Ended {
  reason: CloseReason
  errors: string[]
}

describe('hostile: TLS renegotiation and TLS errors (issue #11)', () => {
  let server: SmtpServer | null = null
  let ended = deferred<Ended>()

  beforeEach(() => {
    ended = deferred<Ended>()
  })

  afterEach(async () => {
    await server?.close()
    server = null
  })

  /**
   * A server whose sessions report how they ended. Every timeout is far off, so when `close()`
   * resolves, the server itself closed the connection (a Node TLS client in the middle of a
   * renegotiation does not always report the close, so the server side is what is checked).
   */
  async function start(secure: boolean): Promise<number> {
    server = new SmtpServer({ domain: 'mx.test', tls: { key, cert }, commandTimeout: 600_000, lingerTimeout: 600_000, closeTimeout: 600_000 }, (smtp) => {
      const errors: string[] = []
      smtp.on('error', ({ error }) => void errors.push((error as { code?: string }).code ?? error.message))
      smtp.on('close', ({ reason }) => ended.resolve({ reason, errors }))
    })
    return (await server.listen(0, '127.0.0.1', { secure })).port
  }

  /** A TLS 1.2 client over `raw`, after STARTTLS or from the start. */
  async function tlsClient(port: number, starttls: boolean): Promise<{ raw: net.Socket; secure: tls.TLSSocket }> {
    const raw = net.connect({ port, host: '127.0.0.1' })
    raw.on('error', () => undefined)
    if (starttls) {
      let received = ''
      const onData = (chunk: Buffer): void => void (received += chunk.toString('latin1'))
      raw.on('data', onData)
      const until = async (pattern: RegExp): Promise<void> => {
        while (!pattern.test(received)) await new Promise<void>((resolve) => raw.once('data', () => resolve()))
      }
      await until(/^220 /m)
      raw.write('EHLO client.test\r\n')
      await until(/^250 /m)
      raw.write('STARTTLS\r\n')
      await until(/^220 2\.0\.0 Ready to start TLS\r\n/m)
      raw.off('data', onData)
    }
    const secure = tls.connect({ socket: raw, rejectUnauthorized: false, maxVersion: 'TLSv1.2' })
    secure.on('error', () => undefined)
    await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()))
    return { raw, secure }
  }

  for (const [name, starttls] of [
    ['after STARTTLS', true],
    ['on implicit TLS', false],
  ] as const) {
    it(`refuses a client renegotiation ${name} and closes the connection`, async () => {
      const port = await start(!starttls)
      const { secure } = await tlsClient(port, starttls)
      const renegotiated = new Promise<Error | null>((resolve) => {
        if (!secure.renegotiate({ rejectUnauthorized: false }, (error) => resolve(error))) resolve(new Error('renegotiate() refused locally'))
      })
      const { reason, errors } = await ended.promise
      expect(reason).to.equal('error')
      expect(errors).to.deep.equal(['ERR_TLS_RENEGOTIATION_DISABLED'])
      await server!.close()
      void renegotiated
    })

    it(`closes a connection that sends non-TLS bytes ${name} at once`, async () => {
      const port = await start(!starttls)
      const { raw } = await tlsClient(port, starttls)
      raw.write('EHLO client.test\r\n') // plaintext under TLS: the record layer fails
      const { reason, errors } = await ended.promise
      expect(reason).to.equal('error')
      expect(errors).to.have.length(1)
      await server!.close()
    })
  }

  it('refuses renegotiation from openssl s_client -tls1_2 (R)', async function (this: Mocha.Context) {
    requireTool(this, 'openssl', 'apt-get install openssl')
    const port = await start(false)
    // Interactive mode (no -quiet, no -ign_eof): a line "R" asks for a renegotiation.
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-tls1_2', '-crlf'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    const more = (): Promise<void> => new Promise<void>((resolve) => client.stdout.once('data', () => resolve()))
    client.stdout.on('data', (text: Buffer) => (output += text.toString()))
    client.stderr.on('data', (text: Buffer) => (output += text.toString()))
    const exited = new Promise<number | null>((resolve) => client.once('exit', (code) => resolve(code)))
    // The session summary ends with the verify result once the handshake is done.
    while (!/Verify return code/.test(output)) await more()
    client.stdin.write('R\n')
    const { reason, errors } = await ended.promise
    expect(reason).to.equal('error')
    expect(errors).to.deep.equal(['ERR_TLS_RENEGOTIATION_DISABLED'])
    await Promise.all([exited, server!.close()])
    client.stdin.destroy()
  })
})
