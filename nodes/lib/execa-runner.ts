// The runner's old name, while a test written against it is still being finished: use process-runner.
export { processRunner as execaRunner, runnerFor } from './process-runner';
