// Task status: /task-status/{id} for the tasks the emulator started (account changes, identity
// processing, profile deletion).

import type { Route } from '../route.ts';

export const taskRoutes: Route[] = [
  {
    method: 'GET',
    template: '/task-status/{id}',
    operationId: 'getTaskStatus',
    requiresToken: true,
    handle: ({ state, params }) => ({ status: 200, body: state.getTask(params.id!) }),
  },
];
