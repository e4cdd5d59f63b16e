/** A wake-up that a notification can trigger early; otherwise it fires after the timeout. */
export class Wake {
  private pending: (() => void) | undefined;
  private signalled = false;

  notify(): void {
    this.signalled = true;
    this.pending?.();
  }

  /** Resolves at the next notify() (or at once if one came since the last wait), or after timeoutMs. */
  wait(timeoutMs: number): Promise<void> {
    if (this.signalled) {
      this.signalled = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pending = undefined;
        this.signalled = false;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.pending = done;
    });
  }
}
