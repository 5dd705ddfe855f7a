// Event Grid trigger: VM created or updated, or tags written on a VM. Thin: all logic is in the handler.
import { app } from '@azure/functions';
import { createVmWriteHandler } from '../handlers/vmWriteHandler';
import { getRuntime } from '../runtime';

const handleVmWrite = createVmWriteHandler(getRuntime());

app.eventGrid('vmWriteEvent', {
  handler: async (event, context) => {
    await handleVmWrite(event, context);
  },
});
