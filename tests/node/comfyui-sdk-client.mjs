// Drives Gantry's virtual ComfyUI with @saintno/comfyui-sdk (npm), unmodified, as its users
// do: upload an image, run a workflow that loads, inverts and saves it (progress, outputs,
// download), interrupt a slow one, and look at what another user can see. Prints one JSON
// line. Usage:
//   node comfyui-sdk-client.mjs <virtual ComfyUI base url> <token> <another user's token>
import { CallWrapper, ComfyApi, PromptBuilder } from '@saintno/comfyui-sdk';
import { startOutcome } from './outcome.mjs';

const [base, token, otherToken] = process.argv.slice(2);
const { outcome, finish } = startOutcome({ base });
/** An 8×8 red PNG. */
const RED_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC';

/** Runs a prompt to its end: the outputs, or the error it failed with. */
function run(api, prompt, onStart) {
  return new Promise((resolve) => {
    new CallWrapper(api, prompt)
      .onPending((id) => outcome.replies.push({ pending: id }))
      .onStart((id) => onStart?.(id))
      .onProgress((info, id) => outcome.progress.push({ id, value: info.value, max: info.max }))
      .onFinished((output, id) => resolve({ id, output }))
      .onFailed((error, id) => resolve({ id, error: error.name, message: error.message }))
      .run();
  });
}

try {
  const api = new ComfyApi(base, 'sdk-client', { credentials: { type: 'bearer_token', token } });
  await api.init().waitForReady();
  outcome.connected = true;

  const uploaded = await api.uploadImage(Buffer.from(RED_PNG, 'base64'), 'red.png');
  outcome.uploaded = uploaded && uploaded.info;
  const invert = {
    1: { class_type: 'LoadImage', inputs: { image: uploaded.info.filename } },
    2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'sdk' } },
  };
  const done = await run(api, new PromptBuilder(invert, [], ['saved']).setOutputNode('saved', '3'));
  outcome.results.push(done);
  if (done.output) {
    const blob = await api.getImage(done.output.saved.images[0]);
    outcome.image = Buffer.from(await blob.arrayBuffer()).toString('base64');
    outcome.history = (await api.getHistory(done.id))?.status?.status_str;
  }

  // A slow prompt, interrupted once it runs.
  const tiled = (input, from) => ({ tile_size: 64, overlap: 0, temporal_size: 64, temporal_overlap: 8, [input]: [from, 0], vae: ['2', 0] });
  const slow = {
    1: { class_type: 'EmptyImage', inputs: { width: 4096, height: 4096, batch_size: 1, color: 7 } },
    2: { class_type: 'VAELoader', inputs: { vae_name: 'pixel_space' } },
    3: { class_type: 'VAEEncodeTiled', inputs: tiled('pixels', '1') },
    4: { class_type: 'VAEDecodeTiled', inputs: tiled('samples', '3') },
    5: { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: 'slow' } },
  };
  const stopped = await run(api, new PromptBuilder(slow, [], ['saved']).setOutputNode('saved', '5'), () => api.interrupt());
  outcome.results.push(stopped);

  // Another user: no history entry, no file, even with the names in hand.
  const other = new ComfyApi(base, 'other-client', { credentials: { type: 'bearer_token', token: otherToken } });
  outcome.otherHistory = (await other.getHistory(done.id)) ?? null;
  const image = done.output && done.output.saved.images[0];
  if (image) {
    const view = await other.fetchApi(`/view?filename=${image.filename}&type=${image.type}&subfolder=${image.subfolder}`);
    outcome.otherView = view.status;
  }
  api.destroy();
  finish(0);
} catch (error) {
  outcome.errors.push(String(error && (error.stack || error)));
  finish(1);
}
