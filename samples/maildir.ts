// Maildir delivery (https://cr.yp.to/proto/maildir.html): a message is written to tmp/, flushed
// to disk, and renamed into new/. Only a message that is in new/ has been delivered.

import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'

let sequence = 0

/** A unique Maildir file name: time, microseconds, pid and a counter, then the host. */
function uniqueName(): string {
  const now = process.hrtime.bigint()
  const seconds = Math.floor(Date.now() / 1000)
  sequence++
  const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072')
  return `${seconds}.M${(now / 1000n) % 1_000_000n}P${process.pid}Q${sequence}.${host}`
}

/** One message being written to tmp/. */
export class Delivery {
  private size = 0

  constructor(
    private readonly maildir: Maildir,
    private readonly handle: FileHandle,
    readonly name: string,
  ) {}

  /** Appends bytes; resolves once the OS has them (the SMTP session waits meanwhile). */
  async write(bytes: Buffer | string): Promise<void> {
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
    this.size += buffer.length
    await this.handle.write(buffer)
  }

  /** Flushes the file to disk and moves it into new/. Returns the delivered path. */
  async commit(): Promise<string> {
    await this.handle.sync()
    await this.handle.close()
    const target = join(this.maildir.path, 'new', `${this.name},S=${this.size}`)
    await rename(join(this.maildir.path, 'tmp', this.name), target)
    await this.maildir.syncDirectory('new')
    return target
  }

  /** Throws the unfinished message away. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined)
    await unlink(join(this.maildir.path, 'tmp', this.name)).catch(() => undefined)
  }
}

/** A Maildir on disk. */
export class Maildir {
  constructor(
    readonly path: string,
    private readonly fsync = true,
  ) {}

  /** Creates tmp/, new/ and cur/ if they are missing. */
  async create(): Promise<void> {
    for (const folder of ['tmp', 'new', 'cur']) await mkdir(join(this.path, folder), { recursive: true })
  }

  /** Starts a message in tmp/. */
  async begin(): Promise<Delivery> {
    const name = uniqueName()
    const handle = await open(join(this.path, 'tmp', name), 'wx')
    return new Delivery(this, handle, name)
  }

  /** Makes a rename into `folder` durable: the directory entry is flushed too. */
  async syncDirectory(folder: string): Promise<void> {
    if (!this.fsync) return
    const handle = await open(join(this.path, folder), 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}
