import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { PersonDetails } from '#libs/people';
import type { StaffPrincipal } from '#libs/staff';
import type { SafeHtml } from '#libs/web';
import { READ_ONLY_SECTIONS } from './person.views.js';

/** What a section of the person page gets to render. */
export interface PersonSectionContext {
  person: PersonDetails;
  staff: StaffPrincipal;
  /** The CSRF token for forms in the section (field `csrf`). */
  csrf: string;
  req: Request;
}

/**
 * One part of the person page (`/people/user/:id`, `/people/legacy_account/:id`). The page
 * shows every registered section that `applies`, by `order`; the read-only ones (profile
 * 10, contacts 20, devices 30, sessions 40, recovery 50, correction requests 60) are built
 * in. Support actions add theirs (forms posting to their own routes) with
 * `PersonSections.add`, e.g. from their controller's constructor.
 */
export interface PersonSection {
  /** Unique; adding a section with an existing id replaces it. */
  id: string;
  order: number;
  applies?: (person: PersonDetails) => boolean;
  render(ctx: PersonSectionContext): SafeHtml | Promise<SafeHtml>;
}

/** The registry of person-page sections (an extension point of the console). */
@Injectable()
export class PersonSections {
  private readonly sections = new Map<string, PersonSection>();

  constructor() {
    for (const section of READ_ONLY_SECTIONS) this.add(section);
  }

  add(section: PersonSection): void {
    this.sections.set(section.id, section);
  }

  /** Sections for this person, in order. */
  for(person: PersonDetails): PersonSection[] {
    return [...this.sections.values()]
      .filter((s) => s.applies?.(person) ?? true)
      .sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
  }
}
