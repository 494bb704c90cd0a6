// The deployment files checked as far as this machine can: HAProxy and systemd parse them, the
// unit's sandbox scores well, and since Docker cannot run here, the Dockerfile's runtime stage is
// replayed by hand (the same files, the same entry point, an unprivileged user).

import { expect } from 'chai'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SmtpServer } from '../lib/index.js'
import { requireTool } from './helpers/external-tools.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

/** One Dockerfile instruction, continuation lines joined. */
interface Instruction {
  readonly keyword: string
  readonly args: string
}

function instructions(dockerfile: string): Instruction[] {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/)
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') }
    })
}

/** The instructions of each build stage. */
function stages(dockerfile: string): Instruction[][] {
  const found: Instruction[][] = []
  for (const instruction of instructions(dockerfile)) {
    if (instruction.keyword === 'FROM') found.push([])
    found.at(-1)?.push(instruction)
  }
  return found
}

/** True when `.dockerignore` keeps `path` (relative to the repository) out of the build context. */
function ignored(patterns: readonly string[], path: string): boolean {
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`)
    return regex.test(path)
  })
}

/** True when every directory above `path` and `path` itself can be entered/run by any user. */
function worldExecutable(path: string): boolean {
  for (let at = resolve(path); ; at = dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return false
    if (dirname(at) === at) return true
  }
}

describe('deploy', function () {
  this.timeout(60000)

  describe('Dockerfile', () => {
    const dockerfile = read('Dockerfile')
    const ignore = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
    const [build = [], runtime = []] = stages(dockerfile)
    const entrypoint = JSON.parse(runtime.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? 'null') as string[] | null

    it('builds in one stage and runs from another, as an unprivileged user', () => {
      expect(stages(dockerfile)).to.have.length(2)
      expect(build.map((i) => i.args).join('\n')).to.include('npm run build')
      expect(runtime.some((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build'))).to.equal(true)
      const users = runtime.filter((i) => i.keyword === 'USER').map((i) => i.args)
      expect(users).to.have.length(1)
      expect(users[0]).to.not.match(/^(root|0)(:|$)/)
    })

    it("runs what `npm start` runs, on the port it exposes, in exec form so SIGTERM reaches node", () => {
      const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start'] ?? ''
      expect(entrypoint, 'ENTRYPOINT in JSON (exec) form').to.be.an('array')
      const [program, script, ...flags] = entrypoint ?? []
      expect(`${program} ${script}`).to.equal(start)
      const port = flags[flags.indexOf('--port') + 1]
      expect(Number(port)).to.be.greaterThan(1023)
      expect(runtime.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args)).to.deep.equal([port])
      expect(flags[flags.indexOf('--host') + 1]).to.equal('0.0.0.0')
    })

    it('copies only files that exist and that .dockerignore lets into the build context', () => {
      for (const heavy of ['node_modules', 'dist', '.git', 'maildir']) expect(ignored(ignore, heavy), heavy).to.equal(true)
      const sources = build
        .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
        .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      expect(sources).to.include.members(['package.json', 'package-lock.json', 'lib', 'samples', 'deploy/runtime-modules.mjs'])
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), source).to.equal(true)
        expect(ignored(ignore, source), `${source} is in .dockerignore`).to.equal(false)
      }
    })

    it('starts from the runtime stage files alone (no dev dependencies), unprivileged, serves metrics, and stops on SIGTERM', async () => {
      // The runtime stage: package.json, dist/lib, dist/samples, and the packages the build stage's
      // runtime-modules.mjs gathers for the entry point (run here the same way).
      const app = mkdtempSync(join(tmpdir(), 'smtpwire-image-'))
      try {
        cpSync(join(ROOT, 'package.json'), join(app, 'package.json'))
        for (const dir of ['dist/lib', 'dist/samples']) cpSync(join(ROOT, dir), join(app, dir), { recursive: true })
        const [, script = ''] = entrypoint ?? []
        const gathered = spawnSync(process.execPath, ['deploy/runtime-modules.mjs', script, app], { cwd: ROOT, encoding: 'utf8' })
        expect([gathered.status, gathered.stderr]).to.deep.equal([0, ''])
        expect(existsSync(join(app, 'node_modules', 'typescript')), 'a dev-only package in the image').to.equal(false)
        const maildir = join(app, 'mail')
        mkdirSync(maildir)
        // As root (CI), run as `nobody`, like the image's USER; the copy must be readable by it.
        const drop = process.getuid?.() === 0 && worldExecutable(process.execPath)
        if (drop) {
          spawnSync('chmod', ['-R', 'a+rX', app])
          chmodSync(app, 0o755)
          chownSync(maildir, 65534, 65534)
        }
        const [, , ...flags] = entrypoint ?? []
        // Flags after the image name come after the ENTRYPOINT's, and a later one wins.
        const args = [script, ...flags, '--host', '127.0.0.1', '--port', '0', '--maildir', maildir, '--no-auth', '--log-level', 'warn', '--metrics-port', '0']
        // Node hands a child NODE_V8_COVERAGE (c8's directory, which `nobody` cannot write to)
        // unless the child's env sets its own: point it at a scratch directory it can write.
        const coverage = join(app, 'coverage')
        mkdirSync(coverage)
        if (drop) chownSync(coverage, 65534, 65534)
        const env = { ...process.env, NODE_V8_COVERAGE: coverage }
        const child = spawn(process.execPath, args, { cwd: app, env, ...(drop ? { uid: 65534, gid: 65534 } : {}) })
        let output = ''
        let errors = ''
        child.stderr.on('data', (text: Buffer) => (errors += text.toString()))
        const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
        const [port, metricsPort] = await new Promise<[number, number]>((found, fail) => {
          child.stdout.on('data', (text: Buffer) => {
            output += text.toString()
            const smtp = /^smtpwire listening on 127\.0\.0\.1:(\d+)$/m.exec(output)
            const metrics = /^smtpwire metrics on 127\.0\.0\.1:(\d+)$/m.exec(output)
            if (smtp && metrics) found([Number(smtp[1]), Number(metrics[1])])
          })
          void exited.then((code) => fail(new Error(`the server exited with ${code}: ${output}${errors}`)))
        })
        const greeting = await new Promise<string>((done, fail) => {
          const socket = net.connect(port, '127.0.0.1')
          socket.once('data', (data) => {
            done(data.toString())
            socket.end('QUIT\r\n')
          })
          socket.once('error', fail)
        })
        expect(greeting).to.match(/^220 \S+ ESMTP smtpwire\r\n$/)
        const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
        expect(scraped).to.match(/^smtpwire_connections_total 1$/m)
        child.kill('SIGTERM')
        expect(await exited).to.equal(0)
        expect(errors).to.equal('')
      } finally {
        rmSync(app, { recursive: true, force: true })
      }
    })
  })

  // @once: these check configuration files, not anything the Node version changes.
  describe('systemd unit @once', () => {
    before(function (this: Mocha.Context) {
      requireTool(this, 'systemd-analyze', 'apt-get install systemd')
    })

    const unit = (): string => {
      // verify wants ExecStart's program to exist: point it at this machine's node.
      const dir = mkdtempSync(join(tmpdir(), 'smtpwire-unit-'))
      const path = join(dir, 'smtpwire.service')
      writeFileSync(path, read('deploy/smtpwire.service').replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `))
      return path
    }

    it('passes systemd-analyze verify without a single warning', () => {
      const run = spawnSync('systemd-analyze', ['verify', unit()], { encoding: 'utf8' })
      expect([run.status, run.stdout, run.stderr]).to.deep.equal([0, '', ''])
    })

    it('has the hardening the README promises, and an exposure level of at most 2.0', () => {
      const text = read('deploy/smtpwire.service')
      for (const setting of [
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'PrivateTmp=yes',
        'ReadWritePaths=/var/lib/smtpwire',
        'AmbientCapabilities=CAP_NET_BIND_SERVICE',
        'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
        'User=smtpwire',
      ]) {
        expect(text).to.match(new RegExp(`^${setting.replace(/[.]/g, '\\.')}$`, 'm'))
      }
      expect(text, 'ExecStart runs the sample on port 25').to.match(/^ExecStart=\/usr\/bin\/node \/opt\/smtpwire\/dist\/samples\/maildir-server\.js .*--port 25 /m)
      const run = spawnSync('systemd-analyze', ['security', '--offline=true', unit()], { encoding: 'utf8' })
      const level = /Overall exposure level for \S+: (\d+\.\d)/.exec(run.stdout)?.[1]
      expect(Number(level), run.stdout.slice(-300)).to.be.at.most(2.0)
    })
  })

  describe('HAProxy snippet @once', () => {
    // Runs even when a spec timed out, so no haproxy outlives the run (and keeps mocha from exiting).
    const cleanups: Array<() => unknown> = []
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup()
    })
    before(function (this: Mocha.Context) {
      requireTool(this, 'haproxy', 'apt-get install haproxy')
    })

    it('passes haproxy -c, sending PROXY v2 to every server and on health checks', () => {
      const run = spawnSync('haproxy', ['-c', '-f', join(ROOT, 'deploy/haproxy.cfg')], { encoding: 'utf8' })
      expect(run.status, run.stderr).to.equal(0)
      expect(run.stdout.trim()).to.equal('Configuration file is valid')
      const text = read('deploy/haproxy.cfg')
      expect(text).to.match(/^\s*default-server send-proxy-v2 check check-send-proxy /m)
      expect(text).to.match(/^\s*mode tcp$/m)
    })

    it('hands SmtpServer the client address over PROXY v2, and its health checks are clean SMTP sessions', async () => {
      // The snippet as written, bound to free local ports and pointed at one server, checking often.
      const sessions: Array<{ remote: string; helo: string | null; reason: string }> = []
      let closed: (() => void) | null = null
      const server = new SmtpServer({ domain: 'mx.test' }, (smtp) => {
        smtp.on('close', ({ session, reason }) => {
          sessions.push({ remote: `${session.remoteAddress}:${session.remotePort}`, helo: session.heloName, reason })
          closed?.()
        })
      })
      cleanups.push(() => server.close())
      const backend = await server.listen(0, '127.0.0.1', { proxyProtocol: true })
      const front = await freePort()
      const config = read('deploy/haproxy.cfg')
        .replace(/^(\s*)bind :25$/m, `$1bind 127.0.0.1:${front}`)
        .replace(/^\s*server mx1 .*\n\s*server mx2 .*$/m, `    server mx1 127.0.0.1:${backend.port}`)
        .replace(/ inter 5s /, ' inter 200ms ')
        .replace(/^\s*log .*$/gm, '')
      const dir = mkdtempSync(join(tmpdir(), 'smtpwire-haproxy-'))
      writeFileSync(join(dir, 'haproxy.cfg'), config)
      const haproxy = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')])
      cleanups.push(() => haproxy.kill('SIGKILL'), () => rmSync(dir, { recursive: true, force: true }))
      let errors = ''
      haproxy.stderr.on('data', (text: Buffer) => (errors += text.toString()))
      haproxy.once('exit', () => closed?.())
      const until = async (done: () => boolean): Promise<void> => {
        while (!done()) {
          if (haproxy.exitCode !== null) throw new Error(`haproxy exited: ${errors}`)
          await new Promise<void>((wake) => (closed = wake))
        }
      }
      try {
        // A health check: the PROXY v2 LOCAL header keeps HAProxy's own address, then EHLO and QUIT.
        await until(() => sessions.some((s) => s.helo === 'haproxy.localhost'))
        const check = sessions.find((s) => s.helo === 'haproxy.localhost')
        expect(check?.reason).to.equal('quit')
        expect(check?.remote).to.match(/^127\.0\.0\.1:\d+$/)

        const client = await new Promise<net.Socket>((connected, fail) => {
          const socket = net.connect(front, '127.0.0.1', () => connected(socket))
          socket.once('error', fail)
        })
        const replies = await new Promise<string>((done) => {
          let text = ''
          client.on('data', (data: Buffer) => (text += data.toString()))
          client.on('end', () => done(text))
          client.write('EHLO client.test\r\nQUIT\r\n')
        })
        expect(replies).to.match(/^220 mx\.test ESMTP smtpwire\r\n250-mx\.test greets client\.test\r\n[\s\S]*221 2\.0\.0 /)
        await until(() => sessions.some((s) => s.helo === 'client.test'))
        expect(sessions.find((s) => s.helo === 'client.test')).to.deep.equal({
          remote: `127.0.0.1:${client.localPort}`,
          helo: 'client.test',
          reason: 'quit',
        })
        expect(sessions.every((s) => s.reason === 'quit'), JSON.stringify(sessions)).to.equal(true)
        client.destroy()
      } finally {
        haproxy.kill('SIGKILL')
      }
    })
  })
})

/** A port nobody listens on right now, for HAProxy, which cannot tell us the port it got for 0. */
function freePort(): Promise<number> {
  return new Promise((found, fail) => {
    const probe = net.createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => found(port))
    })
  })
}
