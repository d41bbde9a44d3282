import 'reflect-metadata';
import { serve } from '../../../libs/platform/src/index.js';
import { IDP } from './served.js';

await serve([IDP]);
