import { Module } from '@nestjs/common';
import { PeopleDirectory } from './people.service.js';

/** The console's people search and person pages (PeopleDirectory). Needs DataSource, Clock and AuditService from the global platform module. */
@Module({ providers: [PeopleDirectory], exports: [PeopleDirectory] })
export class PeopleModule {}
