// Starts the scale-out topology on one machine, on free loopback ports: a NATS JetStream cluster
// (nats-node.conf), smtpwire JetStream front ends, and HAProxy (haproxy.cfg) in front of them.
// The specs and `npm run bench:scale` use it; every wait is for a condition the component reports
// (a log line, a stats socket row, a stream's replica state), never for a fixed time.

import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import { setTimeout as pause } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'

// The templates stay in the source tree (tsc copies only .ts), next to this file's source.
const TEMPLATES = fileURLToPath(new URL('../../../samples/scale/', import.meta.url))
const SAMPLES = fileURLToPath(new URL('../', import.meta.url))
// Between two looks at a condition. Only pacing: the condition decides, not the time.
const POLL_MS = 50
// A condition that never comes is a broken setup: fail with what was awaited instead of hanging.
const GIVE_UP_MS = 60_000

/** A free TCP port on `host`: listen on 0, note the port, close. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Fills a template's `${NAME}` placeholders. @throws Error when one is left without a value. */
export function fillTemplate(name: string, values: Readonly<Record<string, string>>): string {
  const text = readFileSync(join(TEMPLATES, name), 'utf8')
  // Comment lines document the placeholders; only the configuration lines are filled.
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\$\{([A-Z_0-9]+)\}/g, (_, key: string) => {
      const value = values[key]
      if (value === undefined) throw new Error(`${name}: no value for \${${key}}`)
      return value
    })
}

/** Polls `check` until it returns a value other than null/false. @throws Error naming `what` after a minute. */
export async function waitUntil<T>(what: string, check: () => Promise<T | null | false>): Promise<T> {
  const giveUp = Date.now() + GIVE_UP_MS
  let last: unknown = null
  for (;;) {
    try {
      const value = await check()
      if (value !== null && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > giveUp) throw new Error(`gave up waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await pause(POLL_MS)
  }
}

/** A child process whose output is kept, with waits on what it prints. */
export class Child {
  private output = ''
  private waiters: Array<() => void> = []
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    const take = (text: Buffer): void => {
      this.output += text.toString()
      for (const wake of this.waiters.splice(0)) wake()
    }
    process.stdout?.on('data', take)
    process.stderr?.on('data', take)
    this.exit = new Promise((resolve) => process.once('exit', (code, signal) => {
      for (const wake of this.waiters.splice(0)) wake()
      resolve({ code, signal })
    }))
  }

  /** Everything it printed (stdout and stderr). */
  get log(): string {
    return this.output
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null
  }

  /** Resolves with the first match once it printed a line matching `pattern`. @throws Error if it exits first. */
  async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    for (;;) {
      const match = pattern.exec(this.output)
      if (match) return match
      if (!this.running) throw new Error(`${this.name} exited before printing ${pattern}:\n${this.output.slice(-2000)}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  /** Sends `signal` and resolves once it exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.process.kill(signal)
    return this.exit
  }
}

/** One NATS server of the cluster. */
export interface NatsNode {
  readonly name: string
  readonly url: string
  readonly config: string
  child: Child
}

/** A NATS JetStream cluster on loopback, each node with its own store under `dir`. */
export class NatsCluster {
  private constructor(readonly nodes: NatsNode[]) {}

  /** Every node's client URL (a client may be given all of them). */
  get urls(): string[] {
    return this.nodes.map((node) => node.url)
  }

  /** Starts `size` nodes and resolves once the cluster elected a JetStream meta leader. */
  static async start(dir: string, size = 3): Promise<NatsCluster> {
    const ports = await Promise.all(Array.from({ length: size }, () => freePort()))
    const routes = await Promise.all(Array.from({ length: size }, () => freePort()))
    const nodes: NatsNode[] = []
    for (let index = 0; index < size; index++) {
      const name = `n${index + 1}`
      await mkdir(join(dir, name), { recursive: true })
      const config = join(dir, `${name}.conf`)
      await writeFile(
        config,
        fillTemplate('nats-node.conf', {
          SERVER_NAME: name,
          LISTEN: `127.0.0.1:${ports[index]}`,
          STORE_DIR: join(dir, name),
          CLUSTER_LISTEN: `127.0.0.1:${routes[index]}`,
          ROUTES: routes.map((port) => `"nats://127.0.0.1:${port}"`).join(', '),
        }),
      )
      nodes.push({ name, url: `nats://127.0.0.1:${ports[index]}`, config, child: NatsCluster.spawnNode(name, config) })
    }
    const cluster = new NatsCluster(nodes)
    await cluster.metaLeader()
    return cluster
  }

  private static spawnNode(name: string, config: string): Child {
    return new Child(`nats-server ${name}`, spawn('nats-server', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  /**
   * Resolves once every node logged the JetStream meta leader (2.9's wording), so all of them are
   * in the meta group: before that, placing a 3-replica stream fails with "no suitable peers".
   */
  async metaLeader(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.child.waitFor(/JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/)))
  }

  /** SIGKILLs node `index` (no shutdown, like a machine lost). */
  async kill(index: number): Promise<void> {
    await this.nodes[index]?.child.stop('SIGKILL')
  }

  /** Starts node `index` again on its ports and store; resolves once it is ready for clients. */
  async restart(index: number): Promise<void> {
    const node = this.nodes[index]
    if (!node) throw new Error(`no node ${index}`)
    node.child = NatsCluster.spawnNode(node.name, node.config)
    await node.child.waitFor(/Server is ready/)
  }

  /** Resolves once `stream` has a leader and every replica reports itself current. */
  async streamCurrent(stream: string, replicas: number): Promise<void> {
    const connection = await connect({ servers: this.urls.filter((_, index) => this.nodes[index]?.child.running) })
    try {
      // The manager is made inside the wait: making one asks the account's JetStream info, which
      // times out while a restarted node is still catching up (seen once in CI-like runs).
      await waitUntil(`stream ${stream} with ${replicas} current replicas`, async () => {
        const manager = await jetstreamManager(connection)
        const info = await manager.streams.info(stream)
        const followers = info.cluster?.replicas ?? []
        return Boolean(info.cluster?.leader) && followers.length === replicas - 1 && followers.every((peer) => peer.current && !peer.offline)
      })
    } finally {
      await connection.close()
    }
  }

  /** The node that leads `stream` now (its index), or -1. */
  async streamLeader(stream: string): Promise<number> {
    const connection = await connect({ servers: this.urls.filter((_, index) => this.nodes[index]?.child.running) })
    try {
      const info = await waitUntil(`the leader of stream ${stream}`, async () => (await jetstreamManager(connection)).streams.info(stream))
      return this.nodes.findIndex((node) => node.name === info.cluster?.leader)
    } finally {
      await connection.close()
    }
  }

  /** Stops every node still running. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.child.stop('SIGTERM')))
  }
}

/** One row of HAProxy's `show stat` for a server. */
export interface ServerStat {
  readonly status: string
  readonly checkStatus: string
  /** Sessions HAProxy has open to it now. */
  readonly sessions: number
}

/** A front end as HAProxy's config names it: where clients go, and the port its checks go to. */
export interface Checked {
  readonly address: string
  readonly healthPort: number
}

/** HAProxy with samples/scale/haproxy.cfg in front of two front ends. */
export class HaProxy {
  private constructor(
    readonly child: Child,
    readonly port: number,
    readonly socket: string,
  ) {}

  /**
   * Starts it in the foreground in front of two front ends (each checked on its health port);
   * resolves once it answers on its stats socket.
   */
  static async start(dir: string, frontEnds: readonly [Checked, Checked], checkInterval = '200ms'): Promise<HaProxy> {
    const port = await freePort()
    const socket = join(dir, 'haproxy.sock')
    const config = join(dir, 'haproxy.cfg')
    await writeFile(
      config,
      fillTemplate('haproxy.cfg', {
        STATS_SOCKET: socket,
        LISTEN: `127.0.0.1:${port}`,
        FRONT_END_1: frontEnds[0].address,
        FRONT_END_2: frontEnds[1].address,
        HEALTH_PORT_1: String(frontEnds[0].healthPort),
        HEALTH_PORT_2: String(frontEnds[1].healthPort),
        CHECK_INTERVAL: checkInterval,
      }),
    )
    const child = new Child('haproxy', spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
    const proxy = new HaProxy(child, port, socket)
    await waitUntil('the HAProxy stats socket', async () => {
      if (!child.running) throw new Error(`haproxy exited:\n${child.log}`)
      return (await proxy.command('show info')).includes('Name: HAProxy')
    })
    return proxy
  }

  /** Sends one command on the stats socket and resolves with the whole answer. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const client = net.connect(this.socket)
      let answer = ''
      client.setEncoding('utf8')
      client.on('data', (text: string) => (answer += text))
      client.once('error', reject)
      client.once('end', () => resolve(answer))
      client.end(`${line}\n`)
    })
  }

  /** The backend's servers by name, as `show stat` reports them now. */
  async servers(backend = 'smtpwire'): Promise<Map<string, ServerStat>> {
    const [header, ...rows] = (await this.command('show stat')).trim().split('\n')
    const columns = (header ?? '').replace(/^# /, '').split(',')
    const at = (name: string): number => columns.indexOf(name)
    const servers = new Map<string, ServerStat>()
    for (const row of rows) {
      const cells = row.split(',')
      if (cells[at('pxname')] !== backend || cells[at('svname')] === 'BACKEND') continue
      servers.set(cells[at('svname')] ?? '', {
        status: cells[at('status')] ?? '',
        checkStatus: cells[at('check_status')] ?? '',
        sessions: Number(cells[at('scur')] ?? 0),
      })
    }
    return servers
  }

  /** Resolves once server `name`'s status starts with `status` (UP, DOWN, MAINT). */
  async waitForStatus(name: string, status: string): Promise<ServerStat> {
    return waitUntil(`HAProxy to report ${name} ${status}`, async () => {
      const stat = (await this.servers()).get(name)
      return stat && stat.status.startsWith(status) ? stat : null
    })
  }

  async stop(): Promise<void> {
    await this.child.stop('SIGTERM')
  }
}

/** A JetStream front end (samples/jetstream-server.ts) as a child process. */
export class FrontEnd {
  private constructor(
    readonly child: Child,
    readonly port: number,
    private readonly health: number | null,
  ) {}

  /** The address HAProxy's config names for it. */
  get address(): string {
    return `127.0.0.1:${this.port}`
  }

  /** The port of its health-check listener. @throws Error when it was started without `--health-port`. */
  get healthPort(): number {
    if (this.health === null) throw new Error(`${this.child.name} has no --health-port`)
    return this.health
  }

  /** Starts it with `flags` on `port` (0: any); resolves once it printed its listening line(s). */
  static async start(name: string, port: number, flags: readonly string[]): Promise<FrontEnd> {
    const child = new Child(name, spawn(process.execPath, [join(SAMPLES, 'jetstream-server.js'), '--port', String(port), ...flags], { stdio: ['ignore', 'pipe', 'pipe'] }))
    const match = await child.waitFor(/smtpwire listening on [^\s]+:(\d+)/)
    const health = flags.includes('--health-port') ? Number((await child.waitFor(/smtpwire health checks on [^\s]+:(\d+)/))[1]) : null
    return new FrontEnd(child, Number(match[1]), health)
  }
}

/** Runs the Maildir consumer (samples/jetstream-deliver.ts) with `--until-empty`; resolves with its exit. */
export async function runConsumer(flags: readonly string[]): Promise<Child> {
  const child = new Child('consumer', spawn(process.execPath, [join(SAMPLES, 'jetstream-deliver.js'), '--until-empty', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const { code } = await child.exit
  if (code !== 0) throw new Error(`the consumer exited with ${code}:\n${child.log.slice(-2000)}`)
  return child
}
