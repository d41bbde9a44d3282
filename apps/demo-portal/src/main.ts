import 'reflect-metadata';
import { serve } from '../../../libs/platform/src/index.js';
import { DEMO_PORTAL } from './served.js';

await serve([DEMO_PORTAL]);
