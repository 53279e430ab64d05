/** The only signal a worker of the api cluster shuts down on: its primary sends it (see ApiClusterSupervisor). */
export const API_WORKER_SHUTDOWN_SIGNALS = ['SIGTERM'];

/** In a worker of the api cluster, before the application starts. */
export function prepareApiClusterWorker(): void {
  // Ctrl-C in a terminal reaches the whole process group; the primary turns it into one SIGTERM per worker, so a
  // worker must neither die of SIGINT nor start a second shutdown.
  process.on('SIGINT', () => undefined);
}
